import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { MAX_MESSAGE } from '../../src/cli/shown.js';

/**
 * The pieces of the CLI fuzz (test/fuzz/cli.test.ts): a sandbox of file kinds (regular files,
 * FIFOs, private character devices, symlink loops, directories, read-only and full file systems),
 * a runner that spawns `webvit` with a time bound and reports everything the properties check,
 * and generators of hostile strings.
 */

export const ROOT = join(import.meta.dirname, '..', '..');
/** The CLI under test: dist/cli.js (npm test builds it first), or WEBVIT_FUZZ_CLI. */
export const CLI = process.env.WEBVIT_FUZZ_CLI ?? join(ROOT, 'dist', 'cli.js');
/** Per-case wall-time bound. */
export const CASE_MS = Number(process.env.WEBVIT_FUZZ_CLI_MS ?? 20_000);
/** Bounds on what a case may print on stderr. */
/** A line is one message (MAX_MESSAGE, escapes included) after its longest prefix, "webvit convert: ". */
export const STDERR_BOUNDS = { bytes: 64 * 1024, lineChars: MAX_MESSAGE + 'webvit convert: '.length };

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** What a path was before a case, to check that a special file is still that special file afterwards. */
export interface Kind {
  type: 'file' | 'dir' | 'fifo' | 'char' | 'link' | 'missing' | 'other';
  rdev?: number;
  hash?: string;
}

export function kindOf(path: string): Kind {
  let s: Stats;
  try {
    s = lstatSync(path);
  } catch {
    return { type: 'missing' };
  }
  if (s.isSymbolicLink()) return { type: 'link', hash: readlinkSync(path) };
  if (s.isFIFO()) return { type: 'fifo' };
  if (s.isCharacterDevice()) return { type: 'char', rdev: s.rdev };
  if (s.isDirectory()) return { type: 'dir' };
  if (s.isFile()) return { type: 'file', hash: hashFile(path) };
  return { type: 'other' };
}

export function hashFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every regular file under `dir` (not following links) with its hash, and every other entry with its kind. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const k = kindOf(p);
      out.set(p, `${k.type}:${k.rdev ?? ''}:${k.hash ?? ''}`);
      if (k.type === 'dir') {
        try {
          walk(p);
        } catch {
          // unreadable folder
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** Names that look like a writer's temporary file (`OUT.tmp-PID`, `.OUT.tmp`, ...). */
export const TEMP_NAME = /\.tmp(-|\b)|~$|\.partial$/;

/** Paths under `dir` whose names look like temporary files. */
export function tempFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (TEMP_NAME.test(name)) found.push(p);
      try {
        if (lstatSync(p).isDirectory()) walk(p);
      } catch {
        // gone
      }
    }
  };
  walk(dir);
  return found;
}

/**
 * The sandbox: `in/` holds the valid inputs (hashed before and after every case), `special/` the
 * special files, `out/` a fresh folder per case; `ro/` a read-only and `full/` a full tmpfs where
 * the machine allows mounting (root on Linux), else plain folders and a note.
 */
export interface Sandbox {
  root: string;
  in: string;
  special: string;
  out: string;
  ro?: string;
  full?: string;
  notes: string[];
  /** Files by role: valid and invalid inputs. */
  files: Record<string, string>;
  cleanup(): void;
}

export function makeSandbox(root: string): Sandbox {
  const dirs = { in: join(root, 'in'), special: join(root, 'special'), out: join(root, 'out') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const notes: string[] = [];
  const files: Record<string, string> = {};
  const put = (role: string, name: string, data: Uint8Array | string) => {
    files[role] = join(dirs.in, name);
    writeFileSync(files[role], data);
  };
  const tiny = readFileSync(join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'));
  put('model', 'model.safetensors', tiny);
  put('modelTruncated', 'truncated.safetensors', tiny.subarray(0, tiny.byteLength - 777));
  // 2 images of the tiny model: 3 × 32 × 32 float32 values each, N(0, 1)-ish
  const pixels = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.37) * 1.5);
  put('input', 'input.bin', new Uint8Array(pixels.buffer));
  put('inputOdd', 'odd.bin', new Uint8Array(pixels.buffer).subarray(0, 4 * 3 * 32 * 32 + 6));
  put('png', 'bag.png', readFileSync(join(ROOT, 'examples', 'bag.png')));
  put('png2', 'dress.png', readFileSync(join(ROOT, 'examples', 'dress.png')));
  put('garbage', 'garbage.png', 'not an image, not a model\n'.repeat(20));
  put('empty', 'empty.safetensors', new Uint8Array(0));
  put('labels', 'labels.txt', Array.from({ length: 10 }, (_, i) => `label ${i}`).join('\n') + '\n');
  put('preprocessor', 'preprocessor_config.json', JSON.stringify({ do_resize: true, size: { height: 32, width: 32 }, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }));
  // A Hugging Face checkpoint folder for convert (copied, so that it is hashed with the rest).
  const hf = join(dirs.in, 'hf');
  mkdirSync(hf);
  for (const f of ['config.json', 'model.safetensors']) writeFileSync(join(hf, f), readFileSync(join(ROOT, 'test', 'fixtures', 'layouts', 'hf', f)));
  files.checkpoint = hf;
  files.checkpointFile = join(hf, 'model.safetensors');
  // A folder of images (classify and explain take folders).
  mkdirSync(join(dirs.in, 'images'));
  writeFileSync(join(dirs.in, 'images', 'pullover.png'), readFileSync(join(ROOT, 'examples', 'pullover.png')));
  files.imageDir = join(dirs.in, 'images');
  // An unreadable file (root reads it anyway: then it counts as a regular file).
  put('unreadable', 'unreadable.safetensors', tiny);
  spawnSync('chmod', ['000', files.unreadable]);
  if (isRoot) notes.push('running as root: the mode-000 file and read-only folders are readable/writable by root; the read-only tmpfs is what refuses writes');

  // Special files: a FIFO, private character devices (never the machine's /dev nodes), a symlink loop.
  const sp = (name: string) => join(dirs.special, name);
  if (spawnSync('mkfifo', [sp('fifo')]).status === 0) files.fifo = sp('fifo');
  else notes.push('mkfifo failed: no FIFO cases');
  const nodes: [string, number][] = [
    ['null', 3],
    ['zero', 5],
    ['full', 7],
  ];
  for (const [name, minor] of nodes) {
    if (spawnSync('mknod', [sp(name), 'c', '1', String(minor)]).status === 0) files[`dev_${name}`] = sp(name);
    else notes.push(`mknod ${name} (c 1 ${minor}) failed (not root?): no ${name}-device cases`);
  }
  symlinkSync('loop-b', sp('loop-a'));
  symlinkSync('loop-a', sp('loop-b'));
  files.loop = sp('loop-a');
  files.missing = join(dirs.in, 'no-such-file.safetensors');
  files.missingDir = join(dirs.in, 'no-such-folder', 'x');
  files.longName = join(dirs.in, 'n'.repeat(300));
  files.dir = join(dirs.in, 'images');

  // Read-only and full file systems (tmpfs), where mounting is allowed.
  let ro: string | undefined;
  let full: string | undefined;
  const mounted: string[] = [];
  if (isRoot && process.platform === 'linux') {
    const tryMount = (dir: string, opts: string) => {
      mkdirSync(dir, { recursive: true });
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'webvit-fuzz', dir]);
      if (r.status === 0) mounted.push(dir);
      return r.status === 0;
    };
    const roDir = join(root, 'ro');
    if (tryMount(roDir, 'size=1m')) {
      writeFileSync(join(roDir, 'existing.safetensors'), tiny);
      mkdirSync(join(roDir, 'sub'));
      if (spawnSync('mount', ['-o', 'remount,ro', roDir]).status === 0) ro = roDir;
    }
    const fullDir = join(root, 'full');
    if (tryMount(fullDir, 'size=64k')) {
      // fill it: whatever is written next fails with ENOSPC
      const fd = openSync(join(fullDir, 'filler'), 'w');
      try {
        const block = new Uint8Array(4096);
        for (let i = 0; i < 64; i++) writeFileSyncSafe(fd, block);
      } finally {
        closeSync(fd);
      }
      mkdirSync(join(fullDir, 'sub'), { recursive: true });
      full = fullDir;
    }
  }
  if (!ro) notes.push('no read-only tmpfs (needs root and mount): no read-only-folder cases');
  if (!full) notes.push('no full tmpfs (needs root and mount): no full-folder cases');
  return {
    root,
    ...dirs,
    ro,
    full,
    notes,
    files,
    cleanup() {
      for (const d of mounted) spawnSync('umount', ['-l', d]);
      spawnSync('chmod', ['-R', 'u+rwX', root]);
    },
  };
}

function writeFileSyncSafe(fd: number, b: Uint8Array): void {
  try {
    writeFileSync(fd, b);
  } catch {
    // full
  }
}

/** How a case's stdout is connected. */
export type StdoutMode = 'pipe' | 'slow-pipe' | 'file' | 'dev_full' | 'dev_null';

export interface CliResult {
  args: string[];
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
  timedOut: boolean;
  /** Processes of this case still alive after it ended (pid: command line). */
  leftovers: string[];
}

let caseNo = 0;

/** Processes whose environment carries `marker` (every process of a case inherits it). */
function processesWith(marker: string): { pid: number; cmd: string }[] {
  if (!existsSync('/proc')) return [];
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (!env.includes(marker)) continue;
      out.push({ pid: Number(name), cmd: readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ').slice(0, 200) });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * Runs `webvit ARGS` with stdout connected as `mode`, bounded by CASE_MS: past it the process gets
 * SIGTERM (as `timeout` sends it), then SIGKILL 3 s later. Afterwards every process that inherited
 * this case's marker must be gone (an orphaned GPU child is reported as a leftover, then killed).
 */
export async function runCli(args: string[], mode: StdoutMode, sandbox: Sandbox, env: Record<string, string> = {}): Promise<CliResult> {
  const marker = `WEBVIT_FUZZ_CASE=${process.pid}-${++caseNo}`;
  const [mk, mv] = marker.split('=');
  const stdoutFile = join(sandbox.root, `stdout-${caseNo}`);
  let stdoutFd: number | undefined;
  let command = process.execPath;
  let argv = [CLI, ...args];
  if (mode === 'file') stdoutFd = openSync(stdoutFile, 'w');
  else if (mode === 'dev_full' || mode === 'dev_null') stdoutFd = openSync(sandbox.files[mode], 'w');
  else if (mode === 'slow-pipe') {
    // A reader that starts a second late (as `| less` or a busy consumer): the pipe's 64 KiB
    // buffer fills and the writer must wait for it, not exit with output still queued.
    command = 'bash';
    argv = ['-c', '"$@" | { sleep 1; cat > "$WEBVIT_FUZZ_STDOUT"; }; exit "${PIPESTATUS[0]}"', 'bash', process.execPath, CLI, ...args];
  }
  const t0 = performance.now();
  const child = spawn(command, argv, {
    cwd: sandbox.root,
    env: { ...process.env, CI: '1', [mk]: mv, WEBVIT_FUZZ_STDOUT: stdoutFile, ...env },
    stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
    detached: true,
  });
  if (stdoutFd !== undefined) closeSync(stdoutFd);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 4 * STDERR_BOUNDS.bytes) stderr += s;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  }, CASE_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  // Give children a moment to notice that their parent is gone.
  let left = processesWith(marker);
  for (let i = 0; i < 20 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesWith(marker);
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  let stdout = Buffer.concat(out);
  if (mode === 'file' || mode === 'slow-pipe') stdout = existsSync(stdoutFile) ? readFileSync(stdoutFile) : Buffer.alloc(0);
  return { args, code, signal, stdout, stderr, ms, timedOut, leftovers: left.map((p) => `${p.pid}: ${p.cmd}`) };
}

/** The command line of a case, shortened for messages (long values cut, control characters shown). */
export function showArgs(args: string[]): string {
  return args.map((a) => JSON.stringify(a.length > 60 ? `${a.slice(0, 40)}…(${a.length} chars)` : a)).join(' ');
}

/** C0 control characters other than tab and newline, and DEL: what must never reach a terminal raw. */
export const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/;

/**
 * The invariants of every case: exit 0, 1 or 2 (no signal, no crash), within the time bound, no
 * process left behind, no internal error or stack trace, stderr bounded (total and per line)
 * and free of raw control characters. Returns the problems found (empty: the case is clean).
 */
export function commonProblems(r: CliResult): string[] {
  const p: string[] = [];
  if (r.timedOut) p.push(`did not finish within ${CASE_MS} ms (killed)`);
  if (r.leftovers.length) p.push(`left process(es) running after it ended: ${r.leftovers.join('; ')}`);
  if (r.signal) p.push(`ended by signal ${r.signal}`);
  else if (r.code !== 0 && r.code !== 1 && r.code !== 2) p.push(`exit code ${r.code} (expected 0, 1 or 2)`);
  if (/internal error/i.test(r.stderr)) p.push('stderr says "internal error"');
  if (/^\s+at .+(:\d+:\d+\)?|\(native\))$/m.test(r.stderr)) p.push('stderr holds a stack trace');
  if (Buffer.byteLength(r.stderr) > STDERR_BOUNDS.bytes) p.push(`stderr of ${Buffer.byteLength(r.stderr)} bytes (bound ${STDERR_BOUNDS.bytes})`);
  const long = r.stderr.split('\n').find((l) => l.length > STDERR_BOUNDS.lineChars);
  if (long) p.push(`a stderr line of ${long.length} characters (bound ${STDERR_BOUNDS.lineChars}): ${long.slice(0, 120)}…`);
  const ctl = CONTROL.exec(r.stderr);
  if (ctl) p.push(`stderr holds a raw control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0')} near ${JSON.stringify(r.stderr.slice(Math.max(0, ctl.index - 40), ctl.index + 10))}`);
  const ctlOut = CONTROL.exec(r.stdout.toString('utf8'));
  if (ctlOut) p.push(`stdout holds a raw control character U+${ctlOut[0].charCodeAt(0).toString(16).padStart(4, '0')}`);
  return p;
}

/**
 * Strings beyond the formats' 12 characters: long runs (up to 5000), unicode (combining marks,
 * right-to-left, astral), control characters and escape sequences, names that are properties of
 * every object, numbers at the edges.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', ' ', '-', '--', '0', '-1', '1e9', '1e999', 'NaN', 'Infinity', '0x10', '1.5', '9007199254740993', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', '__proto__=x', 'matmul=__proto__', '__proto__=tiled', 'constructor=x', 'f16', 'none') },
  { weight: 2, arbitrary: fc.string({ minLength: 13, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '\u202e', '\u0301', '😀', '\u001b[2J', '\r', '\u0007', '\u0000x', '%s', '${x}', '../', '\\'), fc.integer({ min: 13, max: 5000 })).map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)) },
  { weight: 1, arbitrary: fc.integer({ min: 13, max: 5000 }).map((n) => 'x'.repeat(n)) },
).map((s) => s.replace(/\0/g, '\\0')); // an argument cannot hold NUL
