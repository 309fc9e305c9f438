import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutputAtomically, type WriteIo } from '../../src/cli/write_output.js';
import { TERMINATING_SIGNALS } from '../../src/runtime/node-write-file.js';
import { expectWebvitError } from '../helpers/errors.js';

// The output writer of `webvit convert`: OUT is either what it was or the whole new file, and a
// failed write leaves no OUT.tmp-PID. A full disk is simulated by a file handle whose writes fail
// with ENOSPC after the first 1000 bytes (the CLI test does the same with a real EFBIG).
const tmp = mkdtempSync(join(tmpdir(), 'webvit-write-output-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bytes = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);

const failing = (what: 'write' | 'rename', code: string): WriteIo => ({
  open: (async (path: string, flags: string, mode?: number) => {
    const fh = await open(path, flags, mode);
    if (what !== 'write') return fh;
    let written = 0;
    const write = fh.write.bind(fh) as (b: Uint8Array, o: number, l: number) => Promise<{ bytesWritten: number }>;
    (fh as unknown as { write: unknown }).write = async (b: Uint8Array, o: number, l: number) => {
      if (written >= 1000) throw Object.assign(new Error(`${code}: simulated`), { code });
      const r = await write(b, o, Math.min(l, 1000 - written));
      written += r.bytesWritten;
      return r;
    };
    return fh;
  }) as WriteIo['open'],
  rename: (async (a: string, b: string) => {
    if (what === 'rename') throw Object.assign(new Error(`${code}: simulated`), { code });
    return rename(a, b);
  }) as WriteIo['rename'],
});

describe('writeOutputAtomically', () => {
  it('writes the whole file and leaves nothing else', async () => {
    const dir = mkdtempSync(join(tmp, 'ok-'));
    await writeOutputAtomically(join(dir, 'out.bin'), bytes);
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(new Uint8Array(readFileSync(join(dir, 'out.bin')))).toEqual(bytes);
  });

  it('ENOSPC half-way: a WebvitError naming OUT and ENOSPC, no temporary file, an existing OUT untouched', async () => {
    const dir = mkdtempSync(join(tmp, 'enospc-'));
    const out = join(dir, 'out.bin');
    writeFileSync(out, 'old contents');
    await expectWebvitError(() => writeOutputAtomically(out, bytes, failing('write', 'ENOSPC')), 'IO', [out, 'ENOSPC', 'as it was']);
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(readFileSync(out, 'utf8')).toBe('old contents');
  });

  it('a failed rename (EXDEV): no temporary file', async () => {
    const dir = mkdtempSync(join(tmp, 'exdev-'));
    await expectWebvitError(() => writeOutputAtomically(join(dir, 'out.bin'), bytes, failing('rename', 'EXDEV')), 'IO', ['EXDEV']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves no signal handlers behind (once the event loop has polled again: see untrack)', async () => {
    const signals = [...TERMINATING_SIGNALS, 'exit'];
    const turns = async () => {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    };
    await turns();
    const before = signals.map((s) => process.listenerCount(s));
    await writeOutputAtomically(join(tmp, 'h.bin'), bytes);
    await writeOutputAtomically(join(tmp, 'nodir', 'h.bin'), bytes).catch(() => {});
    await turns();
    expect(signals.map((s) => process.listenerCount(s))).toEqual(before);
  });
});
