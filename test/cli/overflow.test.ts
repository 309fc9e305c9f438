import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withHeader } from '../helpers/weight_file.js';

// Float32 overflow through the command line (issue 17, class 3). Before, a model whose
// webvit.preprocess std is 1e-20 classified every image as the same class with exit 0, and
// `webvit run` on pixels of 1e19 printed the same logits for every image. Now the model is refused
// at load (exit 1, the field and the value), and run refuses the images (exit 1, which images).

const ROOT = join(import.meta.dirname, '..', '..');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny');
let tmp: string;

beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-overflow-'));
  const model = new Uint8Array(readFileSync(join(TINY, 'model.safetensors')));
  const pre = { resize: 32, crop: 32, interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 1e-20, 0.5], channels: 'rgb' };
  writeFileSync(join(tmp, 'std.safetensors'), withHeader(model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify(pre))));
  // The mirror: levels squeezed together (std 1e30, rescale 1e-30), every image the same image.
  writeFileSync(join(tmp, 'std_big.safetensors'), withHeader(model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify({ ...pre, std: [0.5, 1e30, 0.5] }))));
  writeFileSync(join(tmp, 'rescale_tiny.safetensors'), withHeader(model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify({ ...pre, std: [0.5, 0.5, 0.5], rescale: 1e-30 }))));
  const input = new Float32Array(new Uint8Array(readFileSync(join(TINY, 'input.bin'))).buffer);
  writeFileSync(join(tmp, 'huge.bin'), new Uint8Array(input.map((v) => v * 1e19).buffer));
  writeFileSync(join(tmp, 'one_huge.bin'), new Uint8Array(input.map((v, i) => (i >= 3 * 32 * 32 && i < 2 * 3 * 32 * 32 ? v * 1e30 : v)).buffer));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('float32 overflow on the command line is an error, never an answer', () => {
  it('classify and inspect with a model whose preprocessing std is 1e-20: exit 1 naming the file, field and value', () => {
    const model = join(tmp, 'std.safetensors');
    for (const args of [['classify', join(ROOT, 'examples', 'bag.png'), '--model', model], ['inspect', model]]) {
      const r = cli(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`webvit: ${model}: __metadata__["webvit.preprocess"]: std[1] 1e-20 (mean[1] 0.5, rescale 1/255) normalises 8-bit level 0 to -5.00e+19`);
      expect(r.stdout).toBe('');
    }
  });

  it('classify and inspect with std 1e30 or rescale 1e-30 (all levels squeezed together): exit 1 naming the field', () => {
    for (const [file, say] of [['std_big.safetensors', 'std[1] 1e+30 (mean[1] 0.5, rescale 1/255) leaves adjacent 8-bit levels'], ['rescale_tiny.safetensors', 'std[0] 0.5 (mean[0] 0.5, rescale 1e-30) leaves adjacent 8-bit levels']]) {
      const model = join(tmp, file);
      for (const args of [['classify', join(ROOT, 'examples', 'bag.png'), '--model', model], ['inspect', model]]) {
        const r = cli(args);
        expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toContain(`webvit: ${model}: __metadata__["webvit.preprocess"]: ${say}`);
        expect(r.stderr).toContain('fix std/rescale');
        expect(r.stdout).toBe('');
      }
    }
  });

  it('tools/set_preprocess.py refuses std 1e-20 and rescale 1e30 (exit 1, the file unchanged) and writes a sane one', (t) => {
    if (!existsSync('/usr/bin/python3')) return t.skip();
    const file = join(tmp, 'set.safetensors');
    copyFileSync(join(TINY, 'model.safetensors'), file);
    const before = readFileSync(file);
    const set = (value: object) => spawnSync('/usr/bin/python3', ['tools/set_preprocess.py', file, JSON.stringify(value)], { cwd: ROOT, encoding: 'utf8' });
    for (const [value, say] of [[{ std: [0.5, 1e-20, 0.5], mean: [0.5, 0.5, 0.5] }, 'std[1] 1e-20'], [{ rescale: 1e30, std: [0.5, 0.5, 0.5], mean: [0.5, 0.5, 0.5] }, 'rescale 1e+30']] as const) {
      const r = set(value);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(say);
      expect(r.stderr).toContain('fix mean/std/rescale');
      expect(readFileSync(file).equals(before)).toBe(true);
    }
    for (const [value, say] of [[{ std: [0.5, 1e30, 0.5], mean: [0.5, 0.5, 0.5] }, 'std[1] 1e+30'], [{ rescale: 1e-30, std: [0.5, 0.5, 0.5], mean: [0.5, 0.5, 0.5] }, 'rescale 1e-30']] as const) {
      const r = set(value);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(say);
      expect(r.stderr).toContain('fix std/rescale');
      expect(readFileSync(file).equals(before)).toBe(true);
    }
    expect(set({ std: [0.5, 0.25, 0.5], mean: [0.5, 0.5, 0.5] }).status).toBe(0);
  });

  it('run on pixels of 1e19 (every image) or 1e30 (image 1): exit 1 naming the images, no logits printed', () => {
    const model = join(TINY, 'model.safetensors');
    const all = cli(['run', model, '--input', join(tmp, 'huge.bin')]);
    expect(all.code, all.stderr).toBe(1);
    expect(all.stderr).toMatch(/input images 0, 1, 2 of 3 hold values of magnitude up to [\d.]+e\+19, beyond the [\d.]+e\+16 this model takes: float32 would overflow/);
    expect(all.stdout).toBe('');
    const one = cli(['run', model, '--input', join(tmp, 'one_huge.bin'), '--json']);
    expect(one.code, one.stderr).toBe(1);
    expect(one.stderr).toMatch(/input image 1 of 3 holds a value of magnitude up to [\d.]+e\+30/);
  });
});
