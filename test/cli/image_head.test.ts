import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImageHead, decodeImage, imageExtent } from '../../src/image/decode.js';
import { MAX_PNG_CHUNKS } from '../../src/image/png.js';
import { readImage } from '../../src/cli/classify.js';
import { concatBytes, encodeJpeg, pngChunk, pngWithHeader } from '../helpers/images.js';

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

// Round eight: a valid image followed by a tail (1000 MB appended) was read whole, bounded only by
// the 1 GiB image limit: 8 s and 1.2 GB for a PNG, 25 s and 3.2 GB for a JPEG (its bytes were also
// copied into the decoder's memory). What follows a PNG's IEND or a JPEG's EOI is now never read.
describe('an image followed by a huge tail: only the image is read', () => {
  const IMAGES = [join(ROOT, 'examples', 'bag.png'), join(ROOT, 'test', 'fixtures', 'preprocess', 'images', 'rocket_progressive.jpg'), join(ROOT, 'test', 'fixtures', 'preprocess', 'images', 'camera_gray.jpg')];
  it('readImage stops at IEND / EOI with 1000 MB after it (sparse), at once; the classify output is the clean file\'s', async () => {
    for (const clean of IMAGES) {
      const f = join(tmp, `tail-${clean.split('/').pop()}`);
      copyFileSync(clean, f);
      const size = readFileSync(clean).byteLength;
      truncateSync(f, size + 1000 * 2 ** 20);
      const t0 = performance.now();
      const bytes = await readImage(f);
      const ms = performance.now() - t0;
      expect(bytes.byteLength, f).toBe(size);
      expect(ms, `${f}: read in ${ms.toFixed(0)} ms`).toBeLessThan(1000);
      const [a, b] = spawnSyncAll([clean, f]);
      expect(b.status, b.stderr).toBe(0);
      expect(b.stdout.replace(f, 'X')).toBe(a.stdout.replace(clean, 'X'));
    }
  });
  it('imageExtent: the image\'s own length, what follows ignored; the whole file where it cannot tell', async () => {
    const extent = async (b: Uint8Array) => imageExtent(b.subarray(0, 65536), b.byteLength, async (n, at) => b.slice(at, at + n));
    const png = readFileSync(IMAGES[0]);
    const tail = new Uint8Array(300_000).fill(0xff);
    expect(await extent(png)).toBe(png.byteLength);
    expect(await extent(concatBytes([png, tail]))).toBe(png.byteLength);
    // An IEND whose chunk sits past a 64 KiB window, after a big ancillary chunk.
    const big = concatBytes([png.subarray(0, 33), pngChunk('tEXt', new Uint8Array(200_000).fill(65)), png.subarray(33)]);
    expect(await extent(concatBytes([big, tail]))).toBe(big.byteLength);
    // A truncated PNG (no IEND) and one whose chunk runs past the end: the whole file, and the decoder says why.
    expect(await extent(png.subarray(0, png.byteLength - 12))).toBe(png.byteLength - 12);
    const cut = concatBytes([png.subarray(0, 33), Uint8Array.from([0, 1, 0, 0, 0x49, 0x44, 0x41, 0x54])]);
    expect(await extent(concatBytes([cut, new Uint8Array(10)]))).toBe(cut.byteLength + 10);
    // More chunks than the decoder allows: cut at the one over, where the decoder refuses it (not "truncated").
    const empty = pngChunk('tEXt', new Uint8Array(0));
    const many = concatBytes([png.subarray(0, 33), ...Array.from({ length: MAX_PNG_CHUNKS + 5 }, () => empty), new Uint8Array(40)]);
    const n = await extent(many);
    expect(n).toBe(33 + MAX_PNG_CHUNKS * 12);
    await expect(decodeImage(many.subarray(0, n), 'many.png')).rejects.toThrow(/more than 262144 chunks/);
    // JPEGs: baseline, progressive (many scans), greyscale, with restart-free and stuffed data; an
    // APP1 segment holding a whole JPEG (an EXIF thumbnail, with its own EOI) is skipped by its length.
    const rgba = Uint8Array.from({ length: 64 * 48 * 4 }, (_, i) => (i * 37) % 251);
    for (const o of [{}, { progressive: true }, { colorSpace: 1 as const }]) {
      const jpg = await encodeJpeg(rgba, 64, 48, o);
      expect(await extent(jpg)).toBe(jpg.byteLength);
      expect(await extent(concatBytes([jpg, tail]))).toBe(jpg.byteLength);
      expect(await extent(concatBytes([jpg, new Uint8Array(70_000)]))).toBe(jpg.byteLength);
      const thumb = jpg.subarray(0, 2000);
      const app1 = concatBytes([Uint8Array.from([0xff, 0xe1, (thumb.length + 4) >> 8, (thumb.length + 4) & 255]), thumb, Uint8Array.from([0xff, 0xd9])]);
      const withThumb = concatBytes([jpg.subarray(0, 2), app1, jpg.subarray(2)]);
      expect(await extent(concatBytes([withThumb, tail]))).toBe(withThumb.byteLength);
      const whole = await decodeImage(concatBytes([jpg, tail]), 'j.jpg');
      expect((await decodeImage(jpg, 'j.jpg')).rgba).toEqual(whole.rgba);
    }
    // A JPEG with no EOI (truncated): the whole file.
    const jpg = await encodeJpeg(rgba, 64, 48);
    expect(await extent(concatBytes([jpg.subarray(0, jpg.byteLength - 2), new Uint8Array(5)]))).toBe(jpg.byteLength + 3);
    // Not an image: the whole file (checkImageHead refuses it before).
    expect(await extent(new Uint8Array(100))).toBe(100);
    expect(pngWithHeader(1, 1).byteLength).toBe(await extent(concatBytes([pngWithHeader(1, 1), tail])));
  });
});

function spawnSyncAll(files: string[]) {
  return files.map((f) => spawnSync(process.execPath, ['dist/cli.js', 'classify', f], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 }));
}
