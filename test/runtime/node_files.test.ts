import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_LIMITS, readRegularFile, readRegularFileSync } from '../../src/runtime/node-read-file.js';
import { TERMINATING_SIGNALS, writeFileAtomically, writeFileAtomicallySync } from '../../src/runtime/node-write-file.js';
import { fileTuneStore } from '../../src/runtime/node-tune-store.js';
import { expectWebvitError } from '../helpers/errors.js';

// The one writer and the one reader of files in Node (src/runtime/node-write-file.ts,
// node-read-file.ts): special files (devices, FIFOs, sockets, directories) are never replaced as
// outputs and never read as inputs, and a full disk leaves no partial file. Device nodes are
// private ones made with mknod in a temporary folder (never the machine's /dev/null: replacing it
// is the bug), so those cases need root; they are skipped otherwise. Every case is bounded in
// time: a FIFO that is opened or read blocks, so each read runs in a child process with a timeout.

const tmp = mkdtempSync(join(tmpdir(), 'webvit-node-files-'));
const isRoot = process.getuid?.() === 0;
let server: Server | undefined;
let socketPath = '';

/** A private device node: c 1 3 behaves as /dev/null, c 1 5 as /dev/zero, c 1 7 as /dev/full. */
function mknod(name: string, minor: 3 | 5 | 7): string {
  const p = join(tmp, name);
  execFileSync('mknod', [p, 'c', '1', String(minor)]);
  return p;
}
function mkfifo(name: string): string {
  const p = join(tmp, name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** src/runtime/NAME.ts bundled for a child process (node runs JavaScript). */
const bundled = (name: string) => join(tmp, `${name}.mjs`);

beforeAll(async () => {
  for (const name of ['node-read-file', 'node-tune-store']) {
    buildSync({ entryPoints: [join(import.meta.dirname, '..', '..', 'src', 'runtime', `${name}.ts`)], bundle: true, platform: 'node', format: 'esm', outfile: bundled(name), logLevel: 'error' });
  }
  socketPath = join(tmp, 'socket');
  server = createServer();
  await new Promise<void>((res) => server!.listen(socketPath, res));
});
afterAll(async () => {
  await new Promise((res) => server?.close(res));
  rmSync(tmp, { recursive: true, force: true });
});

/** The special files as outputs and inputs: [what, make it, the kind the message names]. */
const specials: [string, () => string, RegExp, boolean][] = [
  ['a private null device (c 1 3)', () => mknod(`null-${Math.random()}`, 3), /character device/, true],
  ['a private full device (c 1 7)', () => mknod(`full-${Math.random()}`, 7), /character device/, true],
  ['a private zero device (c 1 5)', () => mknod(`zero-${Math.random()}`, 5), /character device/, true],
  ['a FIFO', () => mkfifo(`fifo-${Math.random()}`), /FIFO/, false],
  ['a socket', () => socketPath, /socket/, false],
  [
    'a directory',
    () => {
      const d = join(tmp, `dir-${Math.random()}`);
      mkdirSync(d);
      return d;
    },
    /directory/,
    false,
  ],
];

/** What a path is, to show it was not replaced. */
const kindOf = (p: string) => {
  const s = lstatSync(p);
  return { dir: s.isDirectory(), chr: s.isCharacterDevice(), fifo: s.isFIFO(), sock: s.isSocket(), rdev: s.rdev, ino: s.ino };
};
const temps = () => readdirSync(tmp).filter((f) => f.includes('.tmp-'));


describe('outputs: only a regular file is ever replaced', () => {
  for (const [what, make, kind, needsRoot] of specials) {
    it.skipIf(needsRoot && !isRoot)(`${what}: refused naming it and its kind (async and sync writers); it stays what it was; no temporary file`, async () => {
      const p = make();
      const before = kindOf(p);
      const msg = await expectWebvitError(() => writeFileAtomically(p, 'data'), 'IO', [p, 'regular file']);
      expect(msg).toMatch(kind);
      await expectWebvitError(() => writeFileAtomicallySync(p, 'data'), 'IO', [p, 'regular file']);
      expect(kindOf(p)).toEqual(before);
      expect(temps()).toEqual([]);
    });
  }

  it.skipIf(!isRoot)('a symlink to a device is refused; a symlink to a file: the file is replaced and the link stays', async () => {
    const dev = mknod('null-for-link', 3);
    symlinkSync(dev, join(tmp, 'link-to-dev'));
    await expectWebvitError(() => writeFileAtomically(join(tmp, 'link-to-dev'), 'x'), 'IO', [join(tmp, 'link-to-dev'), dev, 'character device']);
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
  });

  it('a symlink to a regular file: the file it names is replaced atomically, the link stays a link; a dangling link is refused', async () => {
    const dir = mkdtempSync(join(tmp, 'links-'));
    writeFileSync(join(dir, 'real.json'), 'old');
    symlinkSync('real.json', join(dir, 'link.json'));
    await writeFileAtomically(join(dir, 'link.json'), 'new');
    expect(lstatSync(join(dir, 'link.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'link.json'))).toBe('real.json');
    expect(readFileSync(join(dir, 'real.json'), 'utf8')).toBe('new');
    symlinkSync('missing.json', join(dir, 'dangling.json'));
    await expectWebvitError(() => writeFileAtomically(join(dir, 'dangling.json'), 'x'), 'IO', [join(dir, 'dangling.json'), 'dangling']);
    expect(readdirSync(dir).sort()).toEqual(['dangling.json', 'link.json', 'real.json']);
  });

  it('the replaced file keeps its mode (async and sync)', async () => {
    const dir = mkdtempSync(join(tmp, 'mode-'));
    for (const [name, write] of [
      ['a', (p: string) => writeFileAtomically(p, 'new')],
      ['b', async (p: string) => writeFileAtomicallySync(p, 'new')],
    ] as const) {
      const p = join(dir, name);
      writeFileSync(p, 'old');
      chmodSync(p, 0o640);
      await write(p);
      expect(statSync(p).mode & 0o777).toBe(0o640);
      expect(readFileSync(p, 'utf8')).toBe('new');
    }
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });

  it('leaves no signal handlers behind once the event loop has turned (async, sync, failed)', async () => {
    const signals = [...TERMINATING_SIGNALS, 'exit'];
    const turns = async () => {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    };
    await turns(); // the earlier tests' handlers linger for a turn (src/runtime/node-write-file.ts, untrack)
    const before = signals.map((s) => process.listenerCount(s));
    await writeFileAtomically(join(tmp, 'h.bin'), 'x');
    writeFileAtomicallySync(join(tmp, 'h.bin'), 'y');
    await writeFileAtomically(join(tmp, 'nodir', 'h.bin'), 'z').catch(() => {});
    await turns();
    expect(signals.map((s) => process.listenerCount(s))).toEqual(before);
  });
});

// A real full disk: a 64 KiB tmpfs (root only: mount). ENOSPC half-way through a 256 KiB file.
describe.skipIf(!isRoot)('a full disk (a 64 KiB tmpfs)', () => {
  let mnt = '';
  let mounted = false;
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'webvit-full-'));
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status === 0;
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('ENOSPC: a WebvitError naming OUT and ENOSPC, the old file intact, no temporary file (async and sync)', async (ctx) => {
    if (!mounted) ctx.skip();
    const out = join(mnt, 'out.bin');
    writeFileSync(out, 'previous run');
    const big = new Uint8Array(256 * 1024).fill(7);
    await expectWebvitError(() => writeFileAtomically(out, big), 'IO', [out, 'ENOSPC', 'as it was']);
    await expectWebvitError(() => writeFileAtomicallySync(out, big), 'IO', [out, 'ENOSPC']);
    expect(readdirSync(mnt)).toEqual(['out.bin']);
    expect(readFileSync(out, 'utf8')).toBe('previous run');
  });
});

/** Runs a reader in a child process (a blocked read cannot hang the test): its outcome as text. */
function readInChild(path: string, sync: boolean): { status: number | null; out: string; ms: number } {
  const script = `
    import { readRegularFile, readRegularFileSync } from ${JSON.stringify(bundled('node-read-file'))};
    const o = { code: 'BAD_INPUT', limit: 2 ** 30, what: 'the image' };
    try {
      const b = ${sync ? 'readRegularFileSync(process.argv[1], o)' : 'await readRegularFile(process.argv[1], o)'};
      console.log('read ' + b.byteLength + ' bytes');
    } catch (e) { console.log(e.code + ': ' + e.message); }`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, path], { encoding: 'utf8', timeout: 20_000, maxBuffer: 1 << 20 });
  return { status: r.status, out: (r.stdout + r.stderr).trim(), ms: performance.now() - t0 };
}

describe('inputs: only a regular file is read, and never more than its size', () => {
  for (const [what, make, kind, needsRoot] of specials) {
    it.skipIf(needsRoot && !isRoot)(`${what}: refused at once, naming it and its kind (async and sync)`, () => {
      const p = make();
      for (const sync of [false, true]) {
        const r = readInChild(p, sync);
        expect(r.status, `${r.out} (a status of null is the 20 s timeout: the read blocked or never ended)`).toBe(0);
        expect(r.out).toMatch(/^BAD_INPUT: /);
        expect(r.out).toContain(p);
        expect(r.out).toContain('cannot read the image');
        expect(r.out).toMatch(kind);
      }
    });
  }

  it.skipIf(!isRoot)('a symlink to a private zero device (as a shard in a Hugging Face cache would be) is followed and refused', () => {
    const zero = mknod('zero-target', 5);
    symlinkSync(zero, join(tmp, 'shard.safetensors'));
    const r = readInChild(join(tmp, 'shard.safetensors'), false);
    expect(r.out).toMatch(/character device, not a regular file/);
  });

  it('a file above the limit is refused with both numbers before it is read; a symlink to a regular file is read', async () => {
    const p = join(tmp, 'big.bin');
    writeFileSync(p, new Uint8Array(1000));
    await expectWebvitError(() => readRegularFile(p, { code: 'BAD_WEIGHTS', limit: 999, what: 'the model file' }), 'BAD_WEIGHTS', [p, 'the model file', '1000 bytes', '999-byte limit']);
    symlinkSync(p, join(tmp, 'big-link.bin'));
    expect((await readRegularFile(join(tmp, 'big-link.bin'), { code: 'BAD_WEIGHTS', limit: READ_LIMITS.weights })).byteLength).toBe(1000);
    expect(readRegularFileSync(join(tmp, 'big-link.bin'), { code: 'BAD_WEIGHTS', limit: READ_LIMITS.weights }).byteLength).toBe(1000);
  });
});

describe('the tuning cache (fileTuneStore) is read and written the same way', () => {
  it('tuning.json a FIFO: the store starts empty at once (no blocked read), and set() does not replace the FIFO', () => {
    const dir = mkdtempSync(join(tmp, 'cache-'));
    execFileSync('mkfifo', [join(dir, 'tuning.json')]);
    const script = `
      import { fileTuneStore } from ${JSON.stringify(bundled('node-tune-store'))};
      const s = fileTuneStore(process.argv[1]);
      console.log(String(s.get('k')));
      s.set('k', 'v');
      console.log(s.get('k'));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'tuning.json')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, `${r.stdout}${r.stderr} (null: the 20 s timeout)`).toBe(0);
    expect(r.stdout).toBe('undefined\nv\n');
    expect(lstatSync(join(dir, 'tuning.json')).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(['tuning.json']);
  });

  it('a regular tuning.json is replaced whole, keeps its mode, and leaves no temporary file', () => {
    const dir = mkdtempSync(join(tmp, 'cache-'));
    const p = join(dir, 'tuning.json');
    writeFileSync(p, JSON.stringify({ a: 'x' }));
    chmodSync(p, 0o600);
    const s = fileTuneStore(p);
    expect(s.get('a')).toBe('x');
    s.set('b', 'y');
    expect(JSON.parse(readFileSync(p, 'utf8'))).toEqual({ a: 'x', b: 'y' });
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['tuning.json']);
  });
});
