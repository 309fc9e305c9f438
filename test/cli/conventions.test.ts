import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';
import { joinWeights, splitWeights } from '../helpers/weight_file.js';

// The built CLI's conventions, as a user meets them: every command's --help, --version, argument
// checks that come before any GPU work, and the edge cases of `run` (an empty input file, a model
// without a classifier).
//
// NO_GPU points the Vulkan loader at a driver file that does not exist: a command that starts the
// GPU then fails with "WebGPU found no adapter" (exit 1), so a usage error (exit 2) or an input
// error under NO_GPU proves that the arguments were checked before the GPU was touched.

const ROOT = join(import.meta.dirname, '..', '..');
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/webvit-no-driver.json', VK_DRIVER_FILES: '/nonexistent/webvit-no-driver.json' };
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'); // 3×32×32, hidden 64, 10 classes
const COMMANDS = ['run', 'bench', 'convert', 'classify', 'inspect'];

function cli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
/** stderr without Dawn's start-up warnings (and the source lines Dawn prints under them). */
const errText = (s: string) => s.split('\n').filter((l) => l && !l.startsWith('Warning:') && !/^\s+at /.test(l)).join('\n');

let tmp: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-conventions-'));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('--help and --version', () => {
  for (const command of COMMANDS) {
    it(`webvit ${command} --help / -h prints ${command}'s usage and exits 0, without the GPU`, () => {
      for (const args of [[command, '--help'], [command, '-h'], [command, 'some-file', '--json', '--help'], ['help', command]]) {
        const r = cli(args, NO_GPU);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stdout, args.join(' ')).toMatch(new RegExp(`^Usage:\\n  webvit ${command} `));
        expect(r.stdout, `${args.join(' ')}: only ${command}'s usage`).not.toMatch(/Environment:/);
        expect(r.stderr, args.join(' ')).toBe('');
      }
    });
  }

  it('`--` ends the options: a file named --help is an argument, not a request for help', () => {
    const r = cli(['inspect', '--', '--help'], NO_GPU);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--help: cannot read the model file \(ENOENT: no such file\)/);
  });

  it('webvit --help lists every command and --version; with no arguments it is a usage error', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    for (const command of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  webvit ${command} `, 'm'));
    expect(r.stdout).toMatch(/-V, --version/);
    expect(cli([]).code).toBe(2);
  });

  it('webvit --version and -V print the version in package.json', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = cli([flag], NO_GPU);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`webvit ${version}\n`);
    }
  });

  it('an unknown option points at that command\'s --help; an unknown command lists the commands', () => {
    const r = cli(['inspect', TINY, '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--frobnicate'; try `webvit inspect --help`/);
    const u = cli(['clasify', 'x.png']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/unknown command "clasify"; commands: run, bench, convert, classify, inspect/);
  });
});

describe('webvit bench checks its arguments before the GPU', () => {
  it('bench alone names all three sub-commands', () => {
    const r = cli(['bench'], NO_GPU);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bench needs "kernels", "model" or "roofline", got nothing; try `webvit bench --help`/);
  });

  for (const [args, message] of [
    [['bench', 'kernels', '--model', 'vit_huge'], /--model: unknown "vit_huge"; choose from ti16, s16, b16, clip-b16, dinov2-s14, dinov2-g14, siglip-b16, beit-b16/],
    [['bench', 'kernels', '--op', 'convolution'], /--op: unknown "convolution"/],
    [['bench', 'kernels', '--variant', 'kernel7'], /--variant: unknown "kernel7"/],
    // Round six: `-o -` wrote a file named "-" in the working folder.
    [['convert', 'test/fixtures/layouts/hf', '-o', '-'], /-o -: convert writes a weight file \(binary\), not standard output/],
    // Round six: another op's variant ran nothing and wrote empty reports with exit 0.
    [['bench', 'kernels', '--op', 'layernorm', '--variant', 'naive'], /--variant: unknown "naive"; choose from workgroup_row, subgroup$/],
    [['bench', 'kernels', '--runs', '0'], /--runs must be a positive integer in decimal digits, got "0"/],
    [['bench', 'model', '--batches', '1,0'], /--batches must be a positive integer in decimal digits, got "0"/],
    [['bench', 'model', '--op', 'matmul'], /Unknown option '--op'; try `webvit bench --help`/],
    [['bench', 'roofline', '--runs', '3'], /Unknown option '--runs'/],
    [['bench', 'kernel'], /bench needs "kernels", "model" or "roofline", got "kernel"/],
  ] as [string[], RegExp][]) {
    it(`${args.join(' ')}: a usage error, not a GPU start`, () => {
      const r = cli(args, NO_GPU);
      expect(errText(r.stderr)).toMatch(message);
      expect(r.stderr).not.toMatch(/no adapter|vkCreateInstance/);
      expect(r.code).toBe(2);
    });
  }

  it('bench roofline needs no GPU at all', () => {
    const r = cli(['bench', 'roofline', '--model', 'ti16'], NO_GPU);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ti16/);
  });
});

describe('webvit run: input and output edge cases', () => {
  it('an empty input file says it is empty and what it should hold (before the GPU starts)', () => {
    const empty = join(tmp, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    const r = cli(['run', TINY, '--input', empty], NO_GPU);
    expect(r.code).toBe(1);
    const err = errText(r.stderr);
    expect(err).toMatch(/empty\.bin: the input file is empty; it should hold float32 little-endian NCHW pixels, already normalised: 3×32×32 = 3072 values \(12288 bytes\) per image/);
    expect(err).not.toMatch(/batch must be/);
  });

  it('an input that is not a whole number of images says how many values an image takes (before the GPU starts)', () => {
    const odd = join(tmp, 'odd.bin');
    writeFileSync(odd, new Uint8Array(4 * 3073));
    const r = cli(['run', TINY, '--input', odd], NO_GPU);
    expect(r.code).toBe(1);
    expect(errText(r.stderr)).toMatch(/has 3073 float32 values; the model takes 3×32×32 = 3072 per image/);
  });

  // Round eight: --top 11 on a 10-class model printed 10 classes, exit 0 (the library refuses it);
  // --top on a features-only model and with run --json did nothing, silently.
  it('--top above the class count, on a features-only model, or with run --json: a usage error naming the model (before the GPU starts)', () => {
    const input = join(ROOT, 'test', 'fixtures', 'tiny', 'input.bin');
    for (const [args, message] of [
      [['run', TINY, '--input', input, '--top', '11'], /--top 11: .*tiny\/model\.safetensors has 10 classes; pass --top 10 or less/],
      [['classify', 'examples/bag.png', '--model', TINY, '--top', '11'], /--top 11: .*tiny\/model\.safetensors has 10 classes; pass --top 10 or less/],
      [['classify', 'examples/bag.png', '-k', '1000'], /--top 1000: models\/fashion-mnist\/model\.safetensors has 10 classes/],
      [['run', TINY, '--input', input, '--top', '3', '--json'], /--top 3 does nothing with --json, which prints every logit; leave one of them out/],
    ] as [string[], RegExp][]) {
      const r = cli(args, NO_GPU);
      expect(errText(r.stderr), args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const f = loadFixture('tiny');
    const parts = splitWeights(f.model);
    parts.tensors = parts.tensors.filter((t) => !t.name.startsWith('head.'));
    parts.config.num_classes = 0;
    parts.labels = undefined;
    const model = join(tmp, 'features-only-top.safetensors');
    writeFileSync(model, joinWeights(parts));
    const r = cli(['run', model, '--input', input, '--top', '2'], NO_GPU);
    expect(errText(r.stderr)).toMatch(/--top 2: .*features-only-top\.safetensors has no classifier \(num_classes 0\), so there are no classes to rank; leave --top out/);
    expect(r.code).toBe(2);
  });

  it('a features-only model (num_classes 0) prints its pooled features: --json all of them (= PyTorch\'s within 1e-4), text a summary per image', () => {
    // The tiny fixture without its classifier: same encoder, so the same features as its golden.
    const f = loadFixture('tiny');
    const parts = splitWeights(f.model);
    parts.tensors = parts.tensors.filter((t) => !t.name.startsWith('head.'));
    parts.config.num_classes = 0;
    parts.labels = undefined;
    const model = join(tmp, 'features-only.safetensors');
    writeFileSync(model, joinWeights(parts));
    const input = join(f.dir, 'input.bin');
    const batch = f.golden.batch;

    const j = cli(['run', model, '--input', input, '--json', '--no-tune']);
    expect(j.code, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout) as { features: number[][] };
    expect(Object.keys(out)).toEqual(['features']);
    expect(out.features).toHaveLength(batch);
    for (const row of out.features) expect(row).toHaveLength(64);
    // The golden test's bound: max |x − golden| / max |golden| ≤ 1e-4.
    expect(maxRelError(Float32Array.from(out.features.flat()), f.golden.features)).toBeLessThanOrEqual(1e-4);

    const t = cli(['run', model, '--input', input, '--no-tune']);
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.trim().split('\n');
    expect(lines).toHaveLength(batch);
    lines.forEach((l, b) => expect(l).toMatch(new RegExp(`^image ${b}: 64 features \\(features-only model: no classifier; --json prints them all\\): \\[-?\\d+\\.\\d{4}, .*\\], mean -?\\d+\\.\\d{4}, std \\d+\\.\\d{4}, min .*, max .*, L2 norm \\d+\\.\\d{4}$`)));
  });
});

describe('npm run parity without its data set', () => {
  it('says which files are missing and to `apt-get install dataset-fashion-mnist`, without a stack', () => {
    const r = spawnSync(process.execPath, ['tools/parity_fashion_mnist.mjs', '--data', tmp], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...NO_GPU } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^parity: the Fashion-MNIST test set is missing \(.*t10k-images-idx3-ubyte\.gz, .*t10k-labels-idx1-ubyte\.gz\)\. .*`apt-get install dataset-fashion-mnist`/);
    expect(r.stderr).not.toMatch(/ENOENT|\n\s+at /);
  });
});
