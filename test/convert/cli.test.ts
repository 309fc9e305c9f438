import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { cpSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWeights, readWeights } from '../../src/model/weights.js';
import { LAYOUT_DIR } from './layout_fixtures.js';
import { spawnPausedWrite } from '../helpers/paused_write.js';

// `webvit convert` as people run it: the built CLI (node scripts/build.mjs), exit codes, and
// one-line errors naming the file and the problem.
const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'webvit-cli-convert-'));

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let copies = 0;
/** A fresh copy of a layout fixture folder, to be (not) overwritten. */
function copyFixture(name: string): string {
  const dir = join(tmp, `copy-${copies++}-${name}`);
  cpSync(join(LAYOUT_DIR, name), dir, { recursive: true });
  return dir;
}

/** Every file in a folder with its bytes (links followed), to show nothing changed. */
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

const oneLineError = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^webvit: /);
  return lines[0];
};

describe('webvit convert (CLI)', () => {
  it('converts an HF folder to F16, prints what it read, and the file loads', () => {
    const out = join(tmp, 'hf16.safetensors');
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', out, '--dtype', 'f16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('webvit convert: layout hf (detected from the tensor names)');
    expect(r.stdout).toMatch(/^wrote .*hf16\.safetensors: F16, 32 tensors, 81226 parameters/);
    const w = readWeights(readFileSync(out), out);
    expect(w.config.num_heads).toBe(4);
    expect(w.labels?.[0]).toBe('tench');
  });

  it.each(['int8', 'q4'])('converts an HF folder to %s, the file loads quantised and inspect shows it', async (dtype) => {
    const out = join(tmp, `hf-${dtype}.safetensors`);
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', out, '--dtype', dtype);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^wrote .*hf-${dtype}\\.safetensors: ${dtype}, 32 tensors, 81226 parameters`));
    const w = await loadWeights(readFileSync(out), out);
    expect([...w.quant!.values()].every((q) => q.kind === dtype)).toBe(true);
    const f32 = join(tmp, `hf-${dtype}-f32.safetensors`);
    expect(cli(join(LAYOUT_DIR, 'hf'), '-o', f32).code).toBe(0);
    // Smaller than f32: int8 stores about a quarter of the matmul weights' bytes, q4 an eighth (+ scales).
    expect(statSync(out).size).toBeLessThan(statSync(f32).size * (dtype === 'int8' ? 0.4 : 0.3));
    const i = spawnSync(process.execPath, ['dist/cli.js', 'inspect', out], { cwd: ROOT, encoding: 'utf8' });
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).toMatch(new RegExp(`quantised\\s+${dtype}: ${w.quant!.size} matmul weights`));
    // Converting the quantised file again is refused (its weights are codes now).
    const again = cli(out, '-o', join(tmp, `again-${dtype}.safetensors`), '--dtype', 'f16');
    expect(again.code).not.toBe(0);
    expect(oneLineError(again.stderr)).toContain(`already quantised (webvit.quant ${dtype})`);
  });

  it.each(['int8', 'q4'])('the bundled model as %s through `webvit classify` and `webvit run`: the same top-1 on the six examples as f32', (dtype) => {
    const out = join(tmp, `bundled-${dtype}.safetensors`);
    expect(cli('models/fashion-mnist/model.safetensors', '-o', out, '--dtype', dtype).code).toBe(0);
    const top1 = (model: string) => {
      const r = spawnSync(process.execPath, ['dist/cli.js', 'classify', 'examples/', '--model', model, '--top', '1', '--json', '--no-tune'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; top: { label: string }[] }).map((l) => [l.file, l.top[0].label]);
    };
    const f32 = top1('models/fashion-mnist/model.safetensors');
    expect(f32).toHaveLength(6);
    expect(top1(out)).toEqual(f32);
    // run: the model on a raw input, its kernels named with their storage.
    const input = join(tmp, `input-${dtype}.bin`);
    writeFileSync(input, Buffer.from(new Float32Array(28 * 28).map((_, i) => Math.sin(i)).buffer));
    const r = spawnSync(process.execPath, ['dist/cli.js', 'run', out, '--input', input, '--no-tune'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`.${dtype}=`);
  });

  it('converts torchvision with --heads, --labels and --image-size', () => {
    const out = join(tmp, 'tv48.safetensors');
    const r = cli(join(LAYOUT_DIR, 'torchvision', 'model.safetensors'), '-o', out, '--heads', '4', '--labels', join(LAYOUT_DIR, 'labels.txt'), '--image-size', '48');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('position embeddings resized 4x4 -> 6x6');
    const w = readWeights(readFileSync(out), out);
    expect(w.config.image_size).toBe(48);
    expect(w.labels?.[9]).toBe('café au lait');
  });

  it('a bad checkpoint: exit 1, one line naming the file and the problem', () => {
    const bad = join(tmp, 'bad.safetensors');
    writeFileSync(bad, Buffer.from('not a checkpoint at all'));
    const r = cli(bad, '-o', join(tmp, 'x.safetensors'));
    expect(r.code).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain(bad);
    expect(line).toContain('not a safetensors file');
  });

  it('an unknown layout: exit 1, one line naming what it saw and the supported layouts', () => {
    const path = join(tmp, 'mystery.safetensors');
    const header = JSON.stringify({ 'backbone.conv.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    const buf = Buffer.alloc(8 + header.length + 4);
    buf.writeBigUInt64LE(BigInt(header.length));
    buf.write(header, 8);
    writeFileSync(path, buf);
    const r = cli(path, '-o', join(tmp, 'x.safetensors'));
    expect(r.code).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain('unknown checkpoint layout (1 tensor: backbone.conv.weight)');
    expect(line).toContain('supported layouts: hf');
  });

  it('heads it cannot infer: exit 1, one line asking for --heads; nothing written', () => {
    const out = join(tmp, 'none.safetensors');
    const r = cli(join(LAYOUT_DIR, 'timm_cls'), '-o', out);
    expect(r.code).toBe(1);
    expect(oneLineError(r.stderr)).toContain('pass --heads N');
    expect(() => readFileSync(out)).toThrow();
  });

  it('usage errors exit 2', () => {
    expect(cli(join(LAYOUT_DIR, 'hf')).code).toBe(2);
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', join(tmp, 'y.safetensors'), '--dtype', 'f8');
    expect(r.code).toBe(2);
    expect(oneLineError(r.stderr)).toContain('--dtype must be one of f32, f16');
  });
});

describe('webvit convert never overwrites what it reads', () => {
  // -o naming any file the conversion reads (weights, a shard, the index, config.json, the labels
  // file), by any path that leads to it (another spelling, a symlink, a hard link), is refused
  // before anything is written, naming that file; every file stays byte for byte as it was.
  const cases: [string, string, (dir: string) => { out: string; read: string; extra?: string[] }][] = [
    ['the HF weights in the folder given', 'hf', (d) => ({ out: join(d, 'model.safetensors'), read: 'model.safetensors' })],
    ['the weights by another spelling', 'hf', (d) => ({ out: `${d}/./model.safetensors`, read: 'model.safetensors' })],
    ['config.json', 'hf', (d) => ({ out: join(d, 'config.json'), read: 'config.json' })],
    ['the first shard', 'hf_sharded', (d) => ({ out: join(d, 'model-00001-of-00002.safetensors'), read: 'model-00001-of-00002.safetensors' })],
    ['the second shard', 'hf_sharded', (d) => ({ out: join(d, 'model-00002-of-00002.safetensors'), read: 'model-00002-of-00002.safetensors' })],
    ['the shard index', 'hf_sharded', (d) => ({ out: join(d, 'model.safetensors.index.json'), read: 'model.safetensors.index.json' })],
    [
      'a symlink to the weights',
      'hf',
      (d) => {
        symlinkSync(join(d, 'model.safetensors'), join(tmp, `link-${copies}.safetensors`));
        return { out: join(tmp, `link-${copies}.safetensors`), read: 'model.safetensors' };
      },
    ],
    [
      'a hard link to a shard',
      'hf_sharded',
      (d) => {
        linkSync(join(d, 'model-00002-of-00002.safetensors'), join(tmp, `hard-${copies}.safetensors`));
        return { out: join(tmp, `hard-${copies}.safetensors`), read: 'model-00002-of-00002.safetensors' };
      },
    ],
    ['the --labels file', 'hf', (d) => ({ out: join(d, 'labels.txt'), read: 'labels.txt', extra: ['--labels', join(d, 'labels.txt')] })],
  ];
  for (const [what, fixture, make] of cases) {
    it(`-o naming ${what} is refused and nothing changes`, () => {
      const dir = copyFixture(fixture);
      writeFileSync(join(dir, 'labels.txt'), readFileSync(join(LAYOUT_DIR, 'labels.txt')));
      const { out, read, extra = [] } = make(dir);
      const before = snapshot(dir);
      const r = cli(dir, '-o', out, ...extra);
      expect(r.code, r.stderr).toBe(2);
      const line = oneLineError(r.stderr);
      expect(line).toContain(out);
      expect(line).toContain(join(dir, read));
      expect(line).toContain('reads');
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it('a source given through a symlink, -o naming the real file: refused', () => {
    const dir = copyFixture('torchvision');
    const link = join(tmp, `src-link-${copies}.safetensors`);
    symlinkSync(join(dir, 'model.safetensors'), link);
    const before = snapshot(dir);
    const r = cli(link, '-o', join(dir, 'model.safetensors'), '--heads', '4');
    expect(r.code, r.stderr).toBe(2);
    expect(oneLineError(r.stderr)).toContain('reads');
    expect(snapshot(dir)).toEqual(before);
  });

  it('an output beside the source (not one of its files) is written', () => {
    const dir = copyFixture('hf');
    const r = cli(dir, '-o', join(dir, 'webvit.safetensors'));
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'golden.json', 'input.bin', 'model.safetensors', 'webvit.safetensors']);
  });
});

describe('a failed or interrupted convert leaves no temporary file', () => {
  // A signal while the output is being written: the partial OUT.tmp-PID is removed, OUT is not
  // created, and the process ends on that signal (a shell reports 128 + signal number). WEBVIT_TEST_PAUSE_WRITE
  // (test only) makes the writer stop half-way and say so, so the signal lands inside the write.
  for (const [signal, status] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} half-way through the write: ends on ${signal} (a shell's ${status}), no OUT and no OUT.tmp-PID`, async () => {
      const dir = mkdtempSync(join(tmp, 'signal-'));
      const out = join(dir, 'out.safetensors');
      const w = spawnPausedWrite('dist/cli.js', ['convert', join(LAYOUT_DIR, 'hf'), '-o', out], { cwd: ROOT, pauseMs: 20_000, waitMs: 20_000 });
      const { child, ended: exited } = w;
      expect(await w.paused, `the writer never paused: ${w.stderr()}`).toBe(true);
      const tmpFile = readdirSync(dir).find((f) => f.startsWith('out.safetensors.tmp-'));
      expect(tmpFile, 'a partial temporary file exists while paused').toBeDefined();
      expect(statSync(join(dir, tmpFile!)).size).toBeGreaterThan(0);
      child.kill(signal);
      expect(await exited).toBe(signal);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  // A write that fails half-way (the file-size limit stands in for a full disk: the write gets
  // EFBIG, as it would ENOSPC): exit 1, one line naming OUT and the error, no temporary file.
  it('a write error half-way (file-size limit, EFBIG): exit 1, no OUT and no OUT.tmp-PID', () => {
    const dir = mkdtempSync(join(tmp, 'efbig-'));
    const out = join(dir, 'out.safetensors');
    // 100 KiB limit; the output is ~320 KiB. SIGXFSZ ignored, so the write fails with EFBIG instead of killing node.
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 100; exec "${process.execPath}" dist/cli.js convert "${join(LAYOUT_DIR, 'hf')}" -o "${out}"`], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(1);
    const line = r.stderr.trim().split('\n').at(-1)!; // after the notes on what was read
    expect(line).toMatch(/^webvit: /);
    expect(line).toContain(out);
    expect(line).toContain('EFBIG');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('sizes beyond the limits (docs/weights-format.md#limits)', () => {
  // These used to end in "internal error: Invalid typed array length" with a stack.
  it('--image-size 80000: exit 1, one line naming the option and the limit', () => {
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', join(tmp, 'big.safetensors'), '--image-size', '80000');
    expect(r.code, r.stderr).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain('--image-size 80000');
    expect(line).toContain('limit of 16384');
    expect(line).not.toContain('internal error');
  });

  it('config.json image_size 8000000: exit 1, one line naming the field and the limit', () => {
    const dir = copyFixture('hf');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, image_size: 8_000_000 }));
    const r = cli(dir, '-o', join(tmp, 'big2.safetensors'));
    expect(r.code, r.stderr).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain('config.json image_size is 8000000, above the limit of 16384');
  });
});
