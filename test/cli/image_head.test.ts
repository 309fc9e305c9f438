import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImageHead } from '../../src/image/decode.js';

// Round six: an image file was read whole before its header was looked at — a JPEG whose first
// marker is corrupt, padded to 1000 MB, took 4.8 s and 1.2 GB before its error. The first 64 KiB
// are now checked first (checkImageHead), and the rest is never read.
const ROOT = resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'webvit-image-head-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('image files are refused from their first bytes', () => {
  it('a corrupt JPEG padded to 1000 MB (sparse): the header error at once, in little memory', () => {
    const f = join(tmp, 'bad.jpg');
    writeFileSync(f, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x00]));
    truncateSync(f, 1000 * 2 ** 20);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['dist/cli.js', 'classify', f], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 });
    expect(r.stderr).toContain('corrupt JPEG (marker 0xe0 with length 0)');
    expect(r.status).toBe(1);
    console.log(`corrupt 1000 MB JPEG refused in ${Date.now() - t0} ms (whole process, GPU start included)`);
  });
  it('checkImageHead: a PNG or JPEG header over the pixel limit, and a non-image, from a few bytes; what it cannot tell passes', () => {
    const png = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png);
    png.writeUInt32BE(13, 8);
    png.write('IHDR', 12, 'latin1');
    png.writeUInt32BE(50_000, 16);
    png.writeUInt32BE(50_000, 20);
    expect(() => checkImageHead(png, 'p.png', 1e8)).toThrow(/50000×50000 = 2,500,000,000 pixels, above the limit/);
    png.writeUInt32BE(100, 16);
    png.writeUInt32BE(100, 20);
    expect(() => checkImageHead(png, 'p.png', 1e8)).not.toThrow();
    const sof = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03]);
    expect(() => checkImageHead(sof, 'j.jpg', 1e8)).toThrow(/65535×65535/);
    expect(() => checkImageHead(Buffer.from('GIF89a'), 'g.gif')).toThrow(/is a GIF image; webvit reads PNG and JPEG images only/);
    expect(() => checkImageHead(Buffer.from([0xff, 0xd8]), 'short.jpg')).not.toThrow();
  });
});
