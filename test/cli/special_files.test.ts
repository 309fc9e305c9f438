import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINATING_SIGNALS } from '../../src/runtime/node-write-file.js';
import { spawnPausedWrite } from '../helpers/paused_write.js';

// Issue 17, classes 1, 4 and 5, through the built CLI (dist/cli.js): no command replaces a device,
// FIFO or socket named as an output, or reads one named as an input (a FIFO blocked forever, a
// zero device filled memory); explain never writes over its own inputs; a full disk or a signal
// during a write leaves every file whole. Device nodes are private ones (mknod in a temporary
// folder: never the machine's /dev/null, which the bug destroys), so those cases need root and are
// skipped without it. Every child process has a timeout: a blocked read or write fails the test.

const ROOT = join(import.meta.dirname, '..', '..');
/** The built CLI, copied: another test's rebuild of dist/ cannot pull its chunks away mid-test. */
let CLI = '';
const LAYOUTS = join(ROOT, 'test', 'fixtures', 'layouts');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'); // 3 channels, 32 px
const BAG = join(ROOT, 'examples', 'bag.png');
// Cases that fail before the GPU is touched get no driver, to prove it.
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/webvit-no-driver.json', VK_DRIVER_FILES: '/nonexistent/webvit-no-driver.json' };
const isRoot = process.getuid?.() === 0;

let tmp = '';
let server: Server | undefined;
let socketPath = '';
let n = 0;
const fresh = (name: string) => join(tmp, `${n++}-${name}`);
function mknod(name: string, minor: 3 | 5 | 7): string {
  const p = fresh(name);
  execFileSync('mknod', [p, 'c', '1', String(minor)]);
  return p;
}
function mkfifo(name: string): string {
  const p = fresh(name);
  execFileSync('mkfifo', [p]);
  return p;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-special-'));
  const pkg = join(tmp, 'webvit');
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  CLI = join(pkg, 'dist', 'cli.js');
  socketPath = join(tmp, 'socket');
  server = createServer();
  await new Promise<void>((res) => server!.listen(socketPath, res));
});
afterAll(async () => {
  await new Promise((res) => server?.close(res));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The CLI, from a scratch folder (a core dump from SIGQUIT could land in the working folder). */
function cli(args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout, maxBuffer: 16 << 20 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';
const kindOf = (p: string) => {
  const s = lstatSync(p);
  return { file: s.isFile(), chr: s.isCharacterDevice(), fifo: s.isFIFO(), sock: s.isSocket(), rdev: s.rdev, ino: s.ino };
};
const tempsIn = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp-'));

/** Outputs that are not regular files: [what, make it, the kind the message names, root only]. */
const specialOutputs: [string, () => string, RegExp, boolean][] = [
  ['a private null device (c 1 3)', () => mknod('null', 3), /character device \(1,3\)/, true],
  ['a private full device (c 1 7)', () => mknod('full', 7), /character device \(1,7\)/, true],
  ['a FIFO', () => mkfifo('fifo'), /FIFO/, false],
  ['a socket', () => socketPath, /socket/, false],
];

describe('outputs: a device, FIFO or socket is refused by name and kind, and stays what it was', () => {
  for (const [what, make, kind, needsRoot] of specialOutputs) {
    it.skipIf(needsRoot && !isRoot)(`convert -o ${what}`, () => {
      const out = make();
      const before = kindOf(out);
      const r = cli(['convert', join(LAYOUTS, 'hf'), '-o', out]);
      expect(r.code, r.stderr).toBe(1);
      const line = lastLine(r.stderr);
      expect(line).toMatch(/^webvit: /);
      expect(line).toContain(out);
      expect(line).toMatch(kind);
      expect(r.stdout).not.toContain('wrote');
      expect(kindOf(out)).toEqual(before);
      expect(tempsIn(tmp)).toEqual([]);
    });
  }

  it.skipIf(!isRoot)('explain: NAME.attention.png a private null device: exit 1 naming it, the device kept, no temporary file', () => {
    const dir = fresh('explain-null');
    mkdirSync(dir);
    execFileSync('mknod', [join(dir, 'bag.attention.png'), 'c', '1', '3']);
    const before = kindOf(join(dir, 'bag.attention.png'));
    const r = cli(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], {}, 240_000);
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r.stderr)).toContain(join(dir, 'bag.attention.png'));
    expect(lastLine(r.stderr)).toMatch(/character device/);
    expect(kindOf(join(dir, 'bag.attention.png'))).toEqual(before);
    expect(tempsIn(dir)).toEqual([]);
  });

  it('explain: explain.json a FIFO: exit 1 naming it (no write blocked forever), the FIFO kept, no temporary file', () => {
    const dir = fresh('explain-fifo');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'explain.json')]);
    const r = cli(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], {}, 240_000);
    expect(r.signal, 'timed out: the write blocked').toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r.stderr)).toContain(join(dir, 'explain.json'));
    expect(lastLine(r.stderr)).toMatch(/FIFO/);
    expect(lstatSync(join(dir, 'explain.json')).isFIFO()).toBe(true);
    expect(tempsIn(dir)).toEqual([]);
  });
});

describe('outputs: bench reports', () => {
  it('bench kernels --out DIR: reports written whole (no temporary file); the JSON report a FIFO: exit 1 naming it, the FIFO kept', () => {
    const args = ['bench', 'kernels', '--model', 'ti16', '--op', 'layernorm', '--variant', 'workgroup_row', '--runs', '1', '--out'];
    const dir = fresh('bench');
    let r = cli([...args, dir], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const json = readdirSync(dir).find((f) => f.endsWith('.json'))!;
    expect(readdirSync(dir).map((f) => f.replace(/\.\w+$/, '')).sort()).toEqual([0, 1, 2].map(() => json.replace(/\.json$/, '')));
    const dir2 = fresh('bench-fifo');
    mkdirSync(dir2);
    execFileSync('mkfifo', [join(dir2, json)]);
    r = cli([...args, dir2], {}, 240_000);
    expect(r.signal, 'timed out: the write blocked').toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r.stderr)).toContain(join(dir2, json));
    expect(lastLine(r.stderr)).toMatch(/FIFO/);
    expect(lstatSync(join(dir2, json)).isFIFO()).toBe(true);
    expect(tempsIn(dir2)).toEqual([]);
  });
});

describe('inputs: a FIFO or device is refused at once, naming it, its kind and where it came from', () => {
  it('run: the model a FIFO, --input a FIFO (before the GPU)', () => {
    const fifo = mkfifo('model.safetensors');
    let r = cli(['run', fifo, '--input', join(ROOT, 'test', 'fixtures', 'tiny', 'input.bin')], NO_GPU, 20_000);
    expect(r.code, `${r.stderr} (null: timed out, the read blocked)`).toBe(1);
    expect(r.stderr).toBe(`webvit: ${fifo}: cannot read the model file (is a FIFO (named pipe), not a regular file; webvit reads only regular files)\n`);
    const input = mkfifo('input.bin');
    r = cli(['run', TINY, '--input', input], NO_GPU, 20_000);
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r.stderr)).toContain(`${input}: cannot read the input file given with --input (is a FIFO`);
  });

  // Round nine: "-" (standard input to Unix tools) failed with a bare "ENOENT: no such file".
  it('"-" as the model, --input, an image or the checkpoint: says webvit does not read standard input and what to do', () => {
    let r = cli(['run', TINY, '--input', '-'], NO_GPU, 20_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--input -: run reads its input from a file, not standard input; save the float32 pixels to a file and give its name');
    const hint = '"-" is taken as a file name: webvit does not read standard input; save the data to a file and give its name';
    for (const args of [['run', '-', '--input', join(ROOT, 'test', 'fixtures', 'tiny', 'input.bin')], ['inspect', '-'], ['convert', '-', '-o', fresh('out.safetensors')], ['classify', '-', '--model', TINY]]) {
      // classify opens the GPU before it reads its images (each fails on its own line).
      r = cli(args, args[0] === 'classify' ? {} : NO_GPU, 60_000);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(`-: cannot read`);
      expect(r.stderr, args.join(' ')).toContain(hint);
    }
  });

  it.skipIf(!isRoot)('run and inspect: a private zero device as the model or --input, and a model symlinked to one (no unbounded read)', () => {
    const zero = mknod('zero', 5);
    const link = fresh('link.safetensors');
    symlinkSync(zero, link);
    for (const args of [
      ['run', zero, '--input', join(ROOT, 'test', 'fixtures', 'tiny', 'input.bin')],
      ['run', TINY, '--input', zero],
      ['inspect', zero],
      ['inspect', link],
    ]) {
      const r = cli(args, NO_GPU, 20_000);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(lastLine(r.stderr)).toMatch(/is a character device, not a regular file/);
    }
  });

  it('classify: FIFO and zero-device images (and a symlink to one) fail on their own lines; the good image is classified', () => {
    const bad = [mkfifo('fifo.png')];
    if (isRoot) {
      bad.push(mknod('zero.png', 5));
      bad.push(fresh('link.png'));
      symlinkSync(bad[1], bad[2]);
    }
    const r = cli(['classify', BAG, ...bad, '--model', TINY, '--json', '--no-tune'], {}, 240_000);
    expect(r.signal, 'timed out: a read blocked or never ended').toBeNull();
    expect(r.code, r.stderr).toBe(1);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; error?: string; top?: unknown[] });
    expect(rows.map((x) => x.file)).toEqual([BAG, ...bad]);
    expect(rows[0].top).toBeDefined();
    expect(rows[1].error).toMatch(/^cannot read \(is a FIFO \(named pipe\), not a regular file/);
    for (const row of rows.slice(2)) expect(row.error).toMatch(/^cannot read \(is a character device, not a regular file/);
  });

  it('convert: SRC, config.json, --labels and --preprocessor-config as FIFOs; a shard symlinked to a private zero device', () => {
    const cases: [string, string[], string][] = [];
    const src = mkfifo('model.safetensors');
    cases.push(['SRC', ['convert', src, '-o', fresh('o.safetensors')], src]);
    const withConfig = fresh('hf-config-fifo');
    cpSync(join(LAYOUTS, 'hf'), withConfig, { recursive: true });
    rmSync(join(withConfig, 'config.json'));
    execFileSync('mkfifo', [join(withConfig, 'config.json')]);
    cases.push(['config.json', ['convert', withConfig, '-o', fresh('o.safetensors')], join(withConfig, 'config.json')]);
    const labels = mkfifo('labels.txt');
    cases.push(['--labels', ['convert', join(LAYOUTS, 'hf'), '--labels', labels, '-o', fresh('o.safetensors')], labels]);
    const pre = mkfifo('preprocessor_config.json');
    cases.push(['--preprocessor-config', ['convert', join(LAYOUTS, 'hf'), '--preprocessor-config', pre, '-o', fresh('o.safetensors')], pre]);
    if (isRoot) {
      const sharded = fresh('sharded');
      cpSync(join(LAYOUTS, 'hf_sharded'), sharded, { recursive: true });
      const shard = join(sharded, 'model-00002-of-00002.safetensors');
      rmSync(shard);
      symlinkSync(mknod('zero', 5), shard);
      cases.push(['a shard', ['convert', sharded, '-o', fresh('o.safetensors')], shard]);
    }
    for (const [what, args, named] of cases) {
      const r = cli(args, {}, 20_000);
      expect(r.code, `${what}: ${r.stderr} (null: timed out)`).toBe(1);
      const line = lastLine(r.stderr);
      expect(line, what).toContain(named);
      expect(line, what).toMatch(/is a (FIFO|character device)/);
      if (what.startsWith('--')) expect(line, what).toContain(`given with ${what}`);
    }
  });
});

describe('explain never writes over its inputs', () => {
  it('a folder explained into itself that holds photo.png and photo.attention.png: exit 2 naming both, nothing changed or written', () => {
    const dir = fresh('photos');
    mkdirSync(dir);
    writeFileSync(join(dir, 'photo.png'), readFileSync(BAG));
    writeFileSync(join(dir, 'photo.attention.png'), readFileSync(join(ROOT, 'examples', 'dress.png')));
    const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
    const r = cli(['explain', dir, '--model', TINY, '-o', dir, '--no-tune'], NO_GPU);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${join(dir, 'photo.attention.png')} (the attention map of ${join(dir, 'photo.png')})`);
    expect(r.stderr).toContain('would overwrite that input');
    expect(Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]))).toEqual(before);
  });

  it('an input named like one of the model figures (explain.json given as an image, through a symlink): exit 2 naming both', () => {
    const dir = fresh('figures');
    mkdirSync(dir);
    writeFileSync(join(dir, 'explain.json'), '{"previous": "run"}\n');
    const link = fresh('old-explain.json');
    symlinkSync(join(dir, 'explain.json'), link);
    const r = cli(['explain', BAG, link, '--model', TINY, '-o', dir, '--no-tune'], NO_GPU);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'explain.json')} (explain.json) would overwrite the input ${link}`);
    expect(readdirSync(dir)).toEqual(['explain.json']);
    expect(readFileSync(join(dir, 'explain.json'), 'utf8')).toBe('{"previous": "run"}\n');
  });
});

describe('a full disk during explain leaves the folder as it was: every file the previous run’s', () => {
  // A real full disk where possible (a 96 KiB tmpfs: root only), else a file-size limit (ulimit -f:
  // the write fails with EFBIG, as it would with ENOSPC). explain's outputs are written to
  // temporary files until one does not fit, and renamed into place only once all are written
  // (WriteBatch): each file is then the previous run's, never a truncated one nor a mix of runs
  // (round six found this run's PNGs beside the previous run's explain.json), and no temporary file is left.
  let mnt = '';
  let mounted = false;
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'webvit-explain-full-'));
    mounted = isRoot && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=96k', 'tmpfs', mnt]).status === 0;
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [mnt]);
    if (mnt) rmSync(mnt, { recursive: true, force: true });
  });

  it('exit 1 naming the file and the error, and that nothing was replaced; every output the marker; no temporary file', () => {
    const reference = fresh('reference');
    let r = cli(['explain', BAG, '--model', TINY, '-o', reference, '--no-tune'], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const names = readdirSync(reference).sort();
    for (const f of names) writeFileSync(join(mnt, f), `previous run: ${f}\n`);
    const args = [CLI, 'explain', BAG, '--model', TINY, '-o', mnt, '--no-tune'];
    const s = mounted
      ? spawnSync(process.execPath, args, { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 })
      : spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 40; exec "${process.execPath}" ${args.map((a) => `"${a}"`).join(' ')}`], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 });
    r = { code: s.status, signal: s.signal, stdout: s.stdout, stderr: s.stderr };
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r.stderr)).toMatch(mounted ? /ENOSPC/ : /EFBIG/);
    expect(lastLine(r.stderr)).toContain(`nothing in ${mnt} was replaced (explain writes its files together)`);
    expect(readdirSync(mnt).sort(), 'no temporary file').toEqual(names);
    let kept = 0;
    for (const f of names) {
      const now = readFileSync(join(mnt, f));
      if (now.toString() === `previous run: ${f}\n`) kept++;
      else if (f === 'explain.json') expect(JSON.parse(now.toString()).images[0].file).toBe(BAG);
      else expect(now.equals(readFileSync(join(reference, f))), `${f} is neither the previous run's nor complete`).toBe(true);
    }
    expect(kept, 'every file is the previous run’s').toBe(names.length);
  });
});

describe('a signal during a write leaves no temporary file, and ends the process as before', () => {
  /** convert (or explain) with the writer paused half-way; `signal` sent once it says so. */
  async function interrupted(args: string[], signal: NodeJS.Signals, dir: string, rawStderr = true): Promise<{ ended: string | number | null; stderr: string }> {
    const w = spawnPausedWrite(CLI, args, { cwd: tmp, env: { CI: '1', WEBVIT_RAW_STDERR: rawStderr ? '1' : undefined }, pauseMs: 4000, waitMs: 200_000 });
    expect(await w.paused, `the writer never paused: ${w.stderr()}`).toBe(true);
    expect(tempsIn(dir).length, 'a temporary file exists while paused').toBe(1);
    w.child.kill(signal);
    return { ended: await w.ended, stderr: w.stderr() };
  }

  for (const signal of TERMINATING_SIGNALS) {
    it(`convert, ${signal}: ends on ${signal}; no OUT, no OUT.tmp-*`, async () => {
      const dir = fresh(`signal-${signal}`);
      mkdirSync(dir);
      const r = await interrupted(['convert', join(LAYOUTS, 'hf'), '-o', join(dir, 'out.safetensors')], signal, dir);
      expect(r.ended, r.stderr).toBe(signal);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('convert, SIGUSR1: no debugger port (Node opened its inspector: round six); ends as on SIGTERM, no OUT, no temporary file', async () => {
    const dir = fresh('signal-SIGUSR1');
    mkdirSync(dir);
    const r = await interrupted(['convert', join(LAYOUTS, 'hf'), '-o', join(dir, 'out.safetensors')], 'SIGUSR1', dir);
    expect(r.stderr).not.toMatch(/Debugger listening/);
    expect(r.stderr).toMatch(/SIGUSR1: ending as on SIGTERM/);
    expect(r.ended, r.stderr).toBe('SIGTERM');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('explain, SIGQUIT while NAME.attention.png is written: ends on SIGQUIT, no temporary file, nothing else written', async () => {
    const dir = fresh('explain-signal');
    mkdirSync(dir);
    const r = await interrupted(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], 'SIGQUIT', dir);
    expect(r.ended, r.stderr).toBe('SIGQUIT');
    expect(readdirSync(dir)).toEqual([]);
  });

  // A GPU command runs in a child process (src/cli/quiet_dawn.ts); a signal sent to the parent
  // alone (kill PID, not the process group) is passed on to the child, which removes its temporary
  // file, and both end on that signal. Before, only SIGINT/SIGTERM/SIGHUP were passed on.
  for (const signal of ['SIGQUIT', 'SIGUSR2', 'SIGALRM'] as const) {
    it(`explain through the GPU child process, ${signal} to the parent alone: ends on ${signal}, no temporary file`, async () => {
      const dir = fresh(`explain-parent-${signal}`);
      mkdirSync(dir);
      const r = await interrupted(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], signal, dir, false);
      expect(r.ended, r.stderr).toBe(signal);
      expect(r.stderr).not.toContain('the GPU process ended');
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  // Round six: a terminating signal sent to the GPU child alone (kill of its pid) ended the CLI
  // with no word on stderr; SIGKILL and crashes were already named.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`explain, ${signal} to the GPU child alone: the CLI says the GPU process ended on it, and ends on it`, async () => {
      const dir = fresh(`explain-child-${signal}`);
      mkdirSync(dir);
      const w = spawnPausedWrite(CLI, ['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], { cwd: tmp, env: { CI: '1' }, pauseMs: 4000, waitMs: 200_000 });
      expect(await w.paused, `the writer never paused: ${w.stderr()}`).toBe(true);
      const kids = readFileSync(`/proc/${w.child.pid}/task/${w.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
      expect(kids.length, 'one GPU child').toBe(1);
      process.kill(kids[0], signal);
      const ended = await w.ended;
      expect(w.stderr()).toContain(`webvit: the GPU process ended on ${signal}`);
      expect(ended, w.stderr()).toBe(signal);
      expect(readdirSync(dir)).toEqual([]);
    });
  }
});

describe('stdout on a file that fills during one write: the rest is not dropped in silence', () => {
  // Round ten: Node writes stdout to a regular file with one fs.writeSync per chunk and does not
  // retry a short write, so on a disk that filled part-way through a write (here a file-size limit,
  // `ulimit -f 1`: 1 KiB, then EFBIG, as ENOSPC on a full disk) the rest of the chunk was dropped,
  // exit 0. Every chunk is now written whole or the command says the output is incomplete, exit 1.
  const limited = (args: string[], out: string) =>
    spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 1; exec "${process.execPath}" ${args.map((a) => `"${a}"`).join(' ')} > "${out}"`], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 });
  for (const [name, args] of [
    ['--help (one write of 6 KB)', ['--help']],
    ['explain --help (one write of 1.4 KB)', ['explain', '--help']],
  ] as [string, string[]][]) {
    it(`${name}: exit 1, "the output is incomplete"`, () => {
      const out = fresh('limited.out');
      const s = limited([CLI, ...args], out);
      expect(s.status, s.stderr).toBe(1);
      expect(s.stderr).toContain('cannot write to standard output (EFBIG');
      expect(s.stderr).toContain('the output is incomplete');
      expect(statSync(out).size).toBe(1024);
    });
  }
  it('under the limit, the same commands write everything and exit 0', () => {
    const out = fresh('unlimited.out');
    const s = spawnSync('bash', ['-c', `exec "${process.execPath}" "${CLI}" --help > "${out}"`], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    expect(s.status, s.stderr).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(4096);
  });
});
