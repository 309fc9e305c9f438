import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clip, WebvitError } from '../../src/errors.js';
import { checkpointFromArrays, convertCheckpoint } from '../../src/model/convert/index.js';
import { oneLine } from '../../src/model/json_preview.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { readWeights } from '../../src/model/weights.js';
import { MAX_MESSAGE } from '../../src/cli/shown.js';
import { splitWeights, joinWeights, withHeader } from '../helpers/weight_file.js';

// Issue 17, class 9: every message is bounded. A value from a file or the command line (a tensor
// name, a JSON key, an argument) is shown cut to its head and tail with its length (clip), and
// the CLI caps whatever it prints; 20 MB of name must not make a 20 MB "one-line" error. And a
// name looked up in a table is an own key: `--kernels __proto__=x` is an unknown op.

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const TINY = readFileSync(join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'));
const HUGE = 20_000_000;
/** A message that "still says what is wrong" in a few KB: this test's bound. */
const SHORT = 8192;
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/webvit-no-driver.json', VK_DRIVER_FILES: '/nonexistent/webvit-no-driver.json' };

const hugeName = (c: string) => `${c}`.repeat(HUGE);

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WebvitError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

let tmp: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-messages-'));
}, 120_000);
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('clip', () => {
  it('keeps a short value as it is and cuts a long one to head, length and tail', () => {
    expect(clip('blocks.0.attn.qkv.weight')).toBe('blocks.0.attn.qkv.weight');
    const s = `${'a'.repeat(500)}${'z'.repeat(500)}`;
    expect(clip(s)).toBe(`${'a'.repeat(100)}…(1000 characters)…${'z'.repeat(50)}`);
    expect(clip(s, 1000)).toBe(s);
  });
});

describe('a 20 MB name in a weight file makes a short message that says what is wrong', () => {
  it('safetensors: a tensor entry with a 20 MB name and an unknown dtype', () => {
    const bytes = withHeader(TINY, (h) => {
      h[hugeName('n')] = { dtype: 'F33', shape: [0], data_offsets: [0, 0] };
    });
    const m = messageOf(() => parseSafetensors(bytes, 'big-name.safetensors'));
    expect(m.length).toBeLessThan(SHORT);
    expect(m).toMatch(/^big-name\.safetensors: tensor n{100}…\(20000000 characters\)…n{50}: unknown dtype "F33"$/);
  });

  it('safetensors: a 10 MB name of control characters stays short once escaped', () => {
    // 10 M characters: JSON writes each as \u001b, and the header may hold 100 MB.
    const bytes = withHeader(TINY, (h) => {
      h['\u001b'.repeat(HUGE / 2)] = { dtype: 'F33', shape: [0], data_offsets: [0, 0] };
    });
    const m = messageOf(() => parseSafetensors(bytes, 'escapes.safetensors'));
    expect(m.length).toBeLessThan(4000);
    expect(m).not.toMatch(/[\u0000-\u001f]/);
    expect(m).toMatch(/^escapes\.safetensors: tensor (\\u001b){100}…\(10000000 characters\)…(\\u001b){50}: unknown dtype "F33"$/);
    // And the last cut, for any message: escaping cannot make it long again.
    expect(oneLine('\u0001'.repeat(HUGE)).length).toBeLessThan(4000);
  });

  it('safetensors: two 20 MB names that overlap', () => {
    const bytes = withHeader(TINY, (h) => {
      const first = Object.keys(h).find((k) => k !== '__metadata__')!;
      h[hugeName('x')] = { ...h[first] };
    });
    const m = messageOf(() => parseSafetensors(bytes, 'overlap.safetensors'));
    expect(m.length).toBeLessThan(SHORT);
    expect(m).toMatch(/overlap in the data section$/);
  });

  it('webvit weights: an unexpected tensor with a 20 MB name', () => {
    const parts = splitWeights(TINY);
    parts.tensors.push({ name: hugeName('u'), shape: [1], data: new Float32Array([0]) });
    const m = messageOf(() => readWeights(joinWeights(parts), 'extra.safetensors'));
    expect(m.length).toBeLessThan(SHORT);
    expect(m).toMatch(/^extra\.safetensors: unexpected tensor\(s\) u{100}…\(20000000 characters\)…u{50} for the config/);
  });

  it('convert: a checkpoint tensor with a 20 MB name', () => {
    const ckpt = checkpointFromArrays('ckpt.safetensors', { [hugeName('w')]: { shape: [1], data: [0] } });
    const m = messageOf(() => convertCheckpoint(ckpt));
    expect(m.length).toBeLessThan(SHORT);
    expect(m).toMatch(/\(20000000 characters\)/);
  });

  it('webvit inspect prints the same short message (one line), exit 1', () => {
    const file = join(tmp, 'big-name.safetensors');
    writeFileSync(
      file,
      withHeader(TINY, (h) => {
        h[hugeName('n')] = { dtype: 'F33', shape: [0], data_offsets: [0, 0] };
      }),
    );
    const r = spawnSync(process.execPath, [CLI, 'inspect', file], { encoding: 'utf8', env: { ...process.env, ...NO_GPU }, maxBuffer: 64 * 2 ** 20 });
    expect(r.status).toBe(1);
    expect(r.stderr.length).toBeLessThan(SHORT);
    expect(r.stderr).toMatch(/^webvit: .*big-name\.safetensors: tensor n{100}…\(20000000 characters\)…n{50}: unknown dtype "F33"\n$/);
  }, 60_000);
});

describe('the CLI caps what it prints, whatever the arguments', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...NO_GPU }, maxBuffer: 64 * 2 ** 20 });
  // One argument can be up to 128 KiB on Linux (MAX_ARG_STRLEN).
  const long = 'q'.repeat(120_000);

  for (const args of [
    [long],
    ['help', long],
    ['inspect', 'a', 'b', long],
    ['run', 'm', '--input', 'i', '--kernels', `${long}=x`],
    ['run', 'm', '--input', 'i', '--top', long],
    ['classify', 'x.png', '--max-pixels', long],
    ['convert', 'src', '-o', 'out.safetensors', '--dtype', long],
    ['bench', 'kernels', '--model', long],
  ]) {
    it(`webvit ${args.map((a) => (a.length > 20 ? `<${a.length} characters>` : a)).join(' ')}: a short usage error`, () => {
      const r = cli(args);
      expect(r.status, r.stderr.slice(0, 500)).toBe(2);
      expect(r.stderr.length).toBeLessThan(SHORT);
      expect(r.stderr).toMatch(/^webvit: .*\(1200\d\d characters\)/);
    });
  }
});

describe('per-image error lines are capped too', () => {
  it('classify: a 120,000-character path that cannot be read gets a short line; the other image is classified', () => {
    const path = `${'d/'.repeat(60_000)}x.png`;
    const r = spawnSync(process.execPath, [CLI, 'classify', path, 'examples/bag.png', '--no-tune'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    expect(r.status, r.stderr.slice(0, 500)).toBe(1);
    expect(r.stdout).toMatch(/^examples\/bag\.png: Bag /);
    const line = r.stderr.split('\n').find((l) => l.startsWith('webvit: d/d/'))!;
    expect(line.length).toBeLessThan(SHORT);
    expect(line).toMatch(/…\(1200\d\d characters\)….*x\.png: cannot read \(ENAMETOOLONG: the path or a name in it is too long\)$/);
  }, 60_000);
});

describe('one message is one line of at most MAX_MESSAGE characters, escapes included', () => {
  // A fuzz case from CI: an image argument of 4,044 characters (PATH_MAX-sized) printed whole.
  const run = (command: string, path: string) =>
    spawnSync(process.execPath, [CLI, command, path, '--model', join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'), ...(command === 'explain' ? ['-o', join(tmp, `explain-${path.length}`)] : ['--no-tune'])], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  for (const command of ['classify', 'explain']) {
    for (const [what, path] of [
      ['a 4,044-character name of backslash escapes', '\\0x'.repeat(1348)],
      ['a name of 3,000 control characters (6 characters each once escaped)', `${'\u0001'.repeat(3000)}.png`],
    ]) {
      it(`${command}: ${what} gets one line that keeps its head, its length and its reason`, () => {
        const r = run(command, path);
        expect(r.status, r.stderr.slice(0, 500)).toBe(1);
        const line = r.stderr.split('\n').find((l) => l.includes('cannot read'))!;
        expect(line, r.stderr.slice(0, 500)).toBeDefined();
        expect(line.length).toBeLessThanOrEqual('webvit: '.length + MAX_MESSAGE);
        expect(line).toMatch(/…\(\d+ characters\)…/);
        expect(line).toMatch(/: cannot read \(ENAMETOOLONG: the path or a name in it is too long\)$/);
        expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
      }, 60_000);
    }
  }
});

describe('names are looked up as own keys only', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...NO_GPU } });
  for (const op of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    it(`--kernels ${op}=x is an unknown op, and the real ops are listed`, () => {
      const r = cli(['run', 'model.safetensors', '--input', 'in.bin', '--kernels', `${op}=x`]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^webvit: --kernels: unknown op "${op}"; ops with variants: matmul, attention, .*\\n$`));
    });
  }
  for (const variant of ['__proto__', 'constructor', 'toString']) {
    it(`--kernels matmul=${variant} is an unknown variant, and the real ones are listed`, () => {
      const r = cli(['run', 'model.safetensors', '--input', 'in.bin', '--kernels', `matmul=${variant}`]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^webvit: --kernels: unknown matmul variant "${variant}"; choose from naive, tiled, .*\\n$`));
    });
  }
  it('--kernels takes OP=VARIANT once per op (round twelve: extra "=x" and a second variant were dropped silently)', () => {
    const extra = cli(['run', 'model.safetensors', '--input', 'in.bin', '--kernels', 'matmul=tiled=x']);
    expect(extra.status).toBe(2);
    expect(extra.stderr).toMatch(/^webvit: --kernels: "matmul=tiled=x" is not OP=VARIANT \(e\.g\. matmul=tiled; several separated by commas\)\n$/);
    const twice = cli(['run', 'model.safetensors', '--input', 'in.bin', '--kernels', 'matmul=tiled,matmul=naive']);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/^webvit: --kernels names matmul twice \(tiled, naive\); give one variant per op\n$/);
  });
  it('-o - and --out - are refused, not made into a folder named "-" (round twelve)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'webvit-dash-'));
    try {
      for (const args of [['explain', join(ROOT, 'examples'), '-o', '-'], ['bench', 'kernels', '--op', 'layernorm', '--model', 'ti16', '--runs', '1', '--out', '-']]) {
        const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, CI: '1' }, timeout: 120_000 });
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/-o -|--out -/);
        expect(r.stderr).toMatch(/not to standard output; give a folder name/);
        expect(readdirSync(dir)).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
  it('webvit help __proto__ is an unknown command', () => {
    const r = cli(['help', '__proto__']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^webvit: unknown command "__proto__"; commands: run, bench, convert, classify, inspect, explain\n$/);
  });
});
