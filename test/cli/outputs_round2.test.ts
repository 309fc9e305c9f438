import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnPausedWrite } from '../helpers/paused_write.js';

// Issue 17, round two, through the built CLI: names webvit picks in an output folder never follow
// a link planted there (explain, bench); every output and the folder itself are checked before the
// GPU work (a refusal writes nothing); the tuning cache never replaces a file the command reads or
// a file that is not a tuning cache; signals the writer did not handle before, and leftovers of
// runs killed outright; output names up to 255 bytes. Cases that must fail before the GPU is
// touched get no driver, to prove it. Device nodes are private (mknod in a temporary folder), so
// those cases need root. Every child process has a timeout.

const ROOT = join(import.meta.dirname, '..', '..');
let CLI = '';
const HF = join(ROOT, 'test', 'fixtures', 'layouts', 'hf');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors');
const BAG = join(ROOT, 'examples', 'bag.png');
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/webvit-no-driver.json', VK_DRIVER_FILES: '/nonexistent/webvit-no-driver.json' };
const isRoot = process.getuid?.() === 0;

let tmp = '';
let n = 0;
const fresh = (name: string) => join(tmp, `${n++}-${name}`);
const freshDir = (name: string) => {
  const d = fresh(name);
  mkdirSync(d);
  return d;
};

beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-outputs2-'));
  const pkg = join(tmp, 'webvit');
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  CLI = join(pkg, 'dist', 'cli.js');
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout, maxBuffer: 16 << 20 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';
const tempsIn = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp-'));
/** One line, a WebvitError's (no stack, no "internal error"). */
function expectOneLineError(r: ReturnType<typeof cli>, ...parts: (string | RegExp)[]) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  const line = lastLine(r.stderr);
  for (const p of parts) expect(line).toMatch(typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
}

describe('item 2: a symlink planted in an output folder is refused, never followed', () => {
  it('explain -o trap with trap/explain.json -> ../victim.txt and trap/bag.attention.png -> ../input.bin: both files intact, nothing written', () => {
    const dir = freshDir('trap-root');
    writeFileSync(join(dir, 'victim.txt'), 'precious\n');
    writeFileSync(join(dir, 'input.bin'), 'input\n');
    mkdirSync(join(dir, 'trap'));
    symlinkSync('../victim.txt', join(dir, 'trap', 'explain.json'));
    symlinkSync('../input.bin', join(dir, 'trap', 'bag.attention.png'));
    const r = cli(['explain', BAG, '--model', TINY, '-o', join(dir, 'trap'), '--no-tune'], NO_GPU);
    expectOneLineError(r, 'symbolic link', 'remove the link');
    expect(readFileSync(join(dir, 'victim.txt'), 'utf8')).toBe('precious\n');
    expect(readFileSync(join(dir, 'input.bin'), 'utf8')).toBe('input\n');
    expect(readdirSync(join(dir, 'trap')).sort()).toEqual(['bag.attention.png', 'explain.json']);
  });

  it('-o itself may be a link to a folder (the user typed it)', () => {
    const dir = freshDir('linked-out');
    mkdirSync(join(dir, 'real'));
    symlinkSync('real', join(dir, 'out'));
    const r = cli(['explain', BAG, '--model', TINY, '-o', join(dir, 'out'), '--no-tune']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'real'))).toContain('explain.json');
  });

  it('bench kernels --out DIR with the report name a link to a file outside: refused before measuring, the file intact', () => {
    // The report is named after the adapter: ask for it from a first (refused) run? No: list DIR after a real run.
    // An ESC in the folder's name: the "wrote ..." line shows it escaped (third hostile run: raw).
    const dir = freshDir('bench-trap\x1b[31m');
    const ok = cli(['bench', 'kernels', '--op', 'pool', '--runs', '1', '--out', dir], {}, 120_000);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toContain('\x1b');
    expect(ok.stderr).toMatch(/webvit bench: wrote ".*bench-trap\\u001b\[31m\/kernels-.*\.json", \.md, \.svg/);
    const md = readdirSync(dir).find((f) => f.endsWith('.md'))!;
    writeFileSync(join(tmp, 'bench-victim.txt'), 'precious\n');
    rmSync(join(dir, md));
    symlinkSync(join(tmp, 'bench-victim.txt'), join(dir, md));
    const r = cli(['bench', 'kernels', '--op', 'pool', '--runs', '1', '--out', dir], {}, 120_000);
    expectOneLineError(r, md, 'symbolic link');
    expect(r.stderr).not.toContain('measuring ceilings');
    expect(readFileSync(join(tmp, 'bench-victim.txt'), 'utf8')).toBe('precious\n');
  });
});

describe('item 5: bench --out is checked before benchmarking (no GPU driver: the refusal comes first)', () => {
  const cases: [string, () => string, RegExp, boolean][] = [
    ['a regular file', () => {
      const p = fresh('afile');
      writeFileSync(p, 'x');
      return p;
    }, /is a regular file, not a folder/, false],
    ['a FIFO', () => {
      const p = fresh('fifo');
      execFileSync('mkfifo', [p]);
      return p;
    }, /is a FIFO.*not a folder/, false],
    ['a private null device', () => {
      const p = fresh('null');
      execFileSync('mknod', [p, 'c', '1', '3']);
      return p;
    }, /character device \(1,3\), not a folder/, true],
    ['a symlink to a private null device', () => {
      const p = fresh('null2');
      execFileSync('mknod', [p, 'c', '1', '3']);
      symlinkSync(p, `${p}-link`);
      return `${p}-link`;
    }, /symbolic link to .*character device \(1,3\), not a folder/, true],
    ['a symlink loop', () => {
      const p = fresh('loop');
      symlinkSync(`${p}-b`, p);
      symlinkSync(p, `${p}-b`);
      return p;
    }, /symbolic link loop/, false],
    ['a folder under a file', () => {
      const p = fresh('file-above');
      writeFileSync(p, 'x');
      return join(p, 'sub');
    }, /file-above is a regular file, not a folder/, false],
  ];
  for (const sub of ['kernels', 'model'] as const) {
    for (const [what, make, msg, needsRoot] of cases) {
      it.skipIf(needsRoot && !isRoot)(`bench ${sub} --out ${what}: one line naming it and its kind, exit 1`, () => {
        const out = make();
        const r = cli(['bench', sub, ...(sub === 'kernels' ? ['--op', 'pool'] : ['--model', 'ti16']), '--runs', '1', '--out', out], NO_GPU, 20_000);
        expectOneLineError(r, '--out', msg);
      });
    }
  }
});

describe('items 15 and 16: explain -o is checked whole before the GPU work (no GPU driver)', () => {
  it('-o a private null device: "is a character device, not a folder"; -o a file: "is a regular file, not a folder"', () => {
    if (isRoot) {
      const dev = fresh('null');
      execFileSync('mknod', [dev, 'c', '1', '3']);
      expectOneLineError(cli(['explain', BAG, '--model', TINY, '-o', dev, '--no-tune'], NO_GPU), `-o ${dev}: is a character device (1,3), not a folder`);
      expect(statSync(dev).isCharacterDevice()).toBe(true);
    }
    const file = fresh('file.png');
    cpSync(BAG, file);
    expectOneLineError(cli(['explain', BAG, '--model', TINY, '-o', file, '--no-tune'], NO_GPU), `-o ${file}: is a regular file, not a folder`);
  });

  it('a FIFO as explain.json: refused before anything is written, the previous run\'s set intact', () => {
    const dir = freshDir('e2');
    const before = cli(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune']);
    expect(before.code, before.stderr).toBe(0);
    const old = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    rmSync(join(dir, 'explain.json'));
    execFileSync('mkfifo', [join(dir, 'explain.json')]);
    const r = cli(['explain', BAG, '--model', TINY, '-o', dir, '--no-tune'], NO_GPU, 20_000);
    expectOneLineError(r, 'explain.json', 'FIFO');
    for (const [f, bytes] of Object.entries(old)) if (f !== 'explain.json') expect(readFileSync(join(dir, f)).equals(bytes), f).toBe(true);
    expect(statSync(join(dir, 'explain.json')).isFIFO()).toBe(true);
  });

  it.skipIf(!isRoot)('-o on a read-only file system: EROFS, naming the folder (not ENOENT)', () => {
    const mnt = freshDir('ro');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mnt]);
    try {
      expectOneLineError(cli(['explain', BAG, '--model', TINY, '-o', join(mnt, 'a', 'b'), '--no-tune'], NO_GPU), join(mnt, 'a'), 'EROFS');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('item 4: any legal output name works (the temporary name stays under 255 bytes)', () => {
  it('convert -o a 250-character name: written, no temporary file left', () => {
    const dir = freshDir('long');
    const out = join(dir, `${'a'.repeat(250)}`);
    const r = cli(['convert', HF, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(['a'.repeat(250)]);
  });

  it('explain of an image with a 251-character name: its map\'s name is cut to 255 bytes', () => {
    const dir = freshDir('long-explain');
    const img = join(dir, `${'b'.repeat(251)}.png`);
    cpSync(BAG, img);
    const r = cli(['explain', img, '--model', TINY, '-o', join(dir, 'out'), '--no-tune']);
    expect(r.code, r.stderr).toBe(0);
    const names = readdirSync(join(dir, 'out'));
    expect(names.every((f) => Buffer.byteLength(f) <= 255)).toBe(true);
    expect(names.filter((f) => f.endsWith('.attention.png'))).toHaveLength(1);
  });

  it('explain -o with a component longer than 255 bytes: refused before the GPU work (no driver)', () => {
    const r = cli(['explain', BAG, '--model', TINY, '-o', join(tmp, 'c'.repeat(300)), '--no-tune'], NO_GPU);
    expectOneLineError(r, 'ENAMETOOLONG');
  });
});

describe('item 12: the tuning cache never replaces a file the command reads, nor a file that is not a cache', () => {
  it('WEBVIT_CACHE_DIR=tc, --model tc/tuning.json --tune: the model is left byte for byte, said once', () => {
    const dir = freshDir('tc');
    cpSync(TINY, join(dir, 'tuning.json'));
    const r = cli(['classify', BAG, '--model', join(dir, 'tuning.json'), '--tune'], { WEBVIT_CACHE_DIR: dir }, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'tuning.json')).equals(readFileSync(TINY))).toBe(true);
    expect(r.stderr.match(/tuning results are not saved/g)).toHaveLength(1);
    expect(readdirSync(dir)).toEqual(['tuning.json']);
  });

  it('a tuning.json that is JSON of another shape is left as it is; a real cache is still written', () => {
    const dir = freshDir('tc-json');
    writeFileSync(join(dir, 'tuning.json'), '[1, 2, 3]\n');
    const r = cli(['classify', BAG, '--model', TINY, '--tune'], { WEBVIT_CACHE_DIR: dir }, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'tuning.json'), 'utf8')).toBe('[1, 2, 3]\n');
    expect(r.stderr).toMatch(/not a webvit tuning cache/);
    const ok = freshDir('tc-ok');
    const r2 = cli(['classify', BAG, '--model', TINY, '--tune'], { WEBVIT_CACHE_DIR: ok }, 120_000);
    expect(r2.code, r2.stderr).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(join(ok, 'tuning.json'), 'utf8'))).length).toBeGreaterThan(0);
  });
});

describe('item 3: signals the writer now handles, and leftovers of a run killed outright', () => {
  /** convert with the writer paused half-way; `signal` sent once it says so. */
  async function interrupted(out: string, signal: NodeJS.Signals | 'RTMIN+2'): Promise<{ ended: string | number | null; stderr: string }> {
    const w = spawnPausedWrite(CLI, ['convert', HF, '-o', out], { cwd: tmp, env: { CI: '1' }, pauseMs: 4000, waitMs: 30_000 });
    expect(await w.paused, `the writer never paused: ${w.stderr()}`).toBe(true);
    if (signal === 'RTMIN+2') execFileSync('/bin/kill', ['-s', signal, String(w.child.pid)]); // Node has no name for it
    else w.child.kill(signal);
    return { ended: await w.ended, stderr: w.stderr() };
  }

  for (const signal of ['SIGPWR', 'SIGIO', 'SIGSTKFLT', 'SIGSYS', 'SIGTRAP'] as const) {
    it(`convert, ${signal} mid-write: ends on ${signal}, no temporary file`, async () => {
      const dir = freshDir(`sig-${signal}`);
      const r = await interrupted(join(dir, 'out.safetensors'), signal);
      expect(r.ended, r.stderr).toBe(signal);
      expect(readdirSync(dir)).toEqual([]);
    }, 40_000);
  }

  for (const [name, signal] of [['SIGKILL', 'SIGKILL'], ['SIGRTMIN+2', 'RTMIN+2']] as const) {
    it(`convert, ${name} mid-write leaves its temporary file; the next write of the same output removes it`, async () => {
      const dir = freshDir(`kill-${name.slice(0, 7)}`);
      const out = join(dir, 'out.safetensors');
      const r = await interrupted(out, signal);
      if (signal === 'SIGKILL') expect(r.ended).toBe('SIGKILL'); // Node reports an RT signal's end as exit code 0
      expect(tempsIn(dir)).toHaveLength(1);
      writeFileSync(join(dir, 'other.bin.tmp-1-0badcafe'), 'not ours'); // another output's name: kept
      const again = cli(['convert', HF, '-o', out]);
      expect(again.code, again.stderr).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['other.bin.tmp-1-0badcafe', 'out.safetensors']);
    }, 40_000);
  }

  it("only webvit's own leftovers are removed: not a file of the older name (OUT.tmp-PID-RANDOM), a device, a FIFO or a link", () => {
    // Hostile run, round 3: the older name's pattern matched a user's file, and the cleanup
    // unlinked devices, FIFOs and links that had it. Now: webvit's name shape with its hash,
    // regular files of this user only.
    const dir = freshDir('not-ours');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const kept = [`out.safetensors.tmp-${dead}-deadbeef`, `out.safetensors.tmp-${dead}-cafebabe`, `out.safetensors.tmp-${dead}-00000000`, `out.safetensors.tmp-${dead}-11111111`];
    writeFileSync(join(dir, kept[0]), 'precious');
    const nod = spawnSync('mknod', [join(dir, kept[1]), 'c', '1', '3']).status === 0;
    execFileSync('mkfifo', [join(dir, kept[2])]);
    symlinkSync('/etc/hostname', join(dir, kept[3]));
    const first = cli(['convert', HF, '-o', join(dir, 'out.safetensors')]);
    expect(first.code, first.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['out.safetensors', ...kept.filter((k) => nod || k !== kept[1])].sort());
  });

  it('a folder renamed during the write: the write fails, and its temporary file is removed where it went', async () => {
    const dir = freshDir('moved');
    const moved = `${dir}.moved`;
    const w = spawnPausedWrite(CLI, ['convert', HF, '-o', join(dir, 'out.safetensors')], { cwd: tmp, env: { CI: '1' }, pauseMs: 2500, waitMs: 30_000 });
    expect(await w.paused, `the writer never paused: ${w.stderr()}`).toBe(true);
    renameSync(dir, moved);
    expect(await w.ended, w.stderr()).toBe(1);
    expect(w.stderr()).toMatch(/out\.safetensors: cannot write the output/);
    expect(readdirSync(moved)).toEqual([]);
  }, 40_000);

});
