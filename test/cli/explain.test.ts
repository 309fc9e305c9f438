import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { ImagePreprocessor } from '../../src/image/preprocessor.js';
import { patchFilterComponents, positionSimilarity } from '../../src/model/analysis.js';
import { parseConfig, shapeOf, type ViTConfig } from '../../src/model/config.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import { ViTModel } from '../../src/model/vit.js';
import { expectedTensors, readWeights } from '../../src/model/weights.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// `webvit explain` as a user runs it (the built CLI, dist/cli.js): the four kinds of figure and the
// JSON are written and parse, the JSON's numbers are the library's, and bad requests get their
// message and exit code. Every run passes --no-tune (tuning is slow on lavapipe) and CI=1.

const ROOT = join(import.meta.dirname, '..', '..');
const BUNDLED = join(ROOT, 'models', 'fashion-mnist', 'model.safetensors');
const TINY_RGB = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'); // 3 channels, 32 px, patch 8, cls
const TINY_MEAN = join(ROOT, 'test', 'fixtures', 'tiny_mean', 'model.safetensors'); // 1 channel, 28 px, mean pooling

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
/** stderr without Dawn's start-up warnings. */
const errText = (s: string) => s.split('\n').filter((l) => l && !l.startsWith('Warning:')).join('\n');

/** Tags balanced and properly nested: the SVG parses as XML (self-closing tags, text and attributes allowed). */
function expectWellFormedSvg(svg: string, what: string): void {
  expect(svg.startsWith('<svg '), `${what}: starts with <svg`).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (self) continue;
    if (!close) stack.push(name);
    else expect(stack.pop(), `${what}: </${name}> closes the open tag`).toBe(name);
  }
  expect(stack, `${what}: every tag closed`).toEqual([]);
}

/** Shapes drawn by a Vega mark group (`class="mark-rect role-mark"`): its <path> elements. */
function markCount(svg: string, cls: string): number {
  const at = svg.indexOf(`<g class="${cls}"`);
  if (at < 0) return 0;
  const end = svg.indexOf('</g>', at);
  return (svg.slice(at, end).match(/<path /g) ?? []).length;
}

/** A random-weight webvit file of this config (enough for explain's refusals, which come before any GPU work). */
function randomModel(path: string, overrides: Partial<ViTConfig>): void {
  const config = parseConfig(
    { image_size: 32, patch_size: 8, num_channels: 1, hidden_size: 8, num_layers: 2, num_heads: 2, mlp_size: 16, num_classes: 2, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls', ...overrides },
    path,
  );
  const rand = rng(7);
  const tensors = [...expectedTensors(config)].map(([name, shape]) => ({ name, shape, data: randn(rand, shape.reduce((a, b) => a * b, 1), 0.02) }));
  writeFileSync(path, writeSafetensors(tensors, { format: 'webvit', 'webvit.config': JSON.stringify(config) }));
}

let tmp: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-explain-'));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

interface ExplainJson {
  map: { source: string; layer: number | null };
  grid: number;
  images: { file: string; error?: string; png: string; top: { label: string | null; p: number } | null; map: number[][]; map_scaled: number[][]; distance: number[][] }[];
  attention_distance: { images: number; mean: number[][]; uniform: number };
  position_similarity: { grid: number; similarity: number[][] };
  filter_components: { patch_size: number; channels: number; components: number[][]; variance_ratio: number[] };
}

describe('webvit explain', () => {
  it.skipIf(!existsSync(BUNDLED))('bundled model, one example: the four kinds of figure and explain.json; its numbers are the library’s', async () => {
    const out = join(tmp, 'bundled');
    const r = cli('explain', 'examples/bag.png', '-o', out, '--no-tune');
    expect(r.code, errText(r.stderr)).toBe(0);
    // Text output: the file, the top class, the source and the 4×4 map scaled to max 1.
    expect(r.stdout).toMatch(/^examples\/bag\.png: .*bag\.attention\.png, Bag \d+\.\d%; rollout from the class token, scaled to max 1:\n( {2}\d\.\d\d( \d\.\d\d){3}\n){4}model: /);
    expect(r.stdout).toMatch(/1\.00/);

    const png = PNG.sync.read(readFileSync(join(out, 'bag.attention.png')));
    expect([png.width, png.height]).toEqual([2 * 224 + 4, 224]); // 28 px drawn 8× larger, two panels
    // The left panel is the image (grey: R = G = B), the right one is coloured by the map.
    const px = (x: number, y: number) => Array.from(png.data.subarray(4 * (y * png.width + x), 4 * (y * png.width + x) + 3));
    const left = px(100, 100);
    expect(left[0]).toBe(left[1]);
    const right = px(228 + 100, 100);
    expect(right[0] === right[1] && right[1] === right[2]).toBe(false);

    const svgs = { distance: 'attention-distance.svg', similarity: 'position-similarity.svg', filters: 'filter-components.svg' };
    for (const f of Object.values(svgs)) expectWellFormedSvg(readFileSync(join(out, f), 'utf8'), f);
    const c = readWeights(readFileSync(BUNDLED), BUNDLED).config;
    const N = shapeOf(c).grid ** 2;
    expect(markCount(readFileSync(join(out, svgs.distance), 'utf8'), 'mark-symbol role-mark'), 'one dot per head and layer').toBe(c.num_layers * c.num_heads);
    expect(markCount(readFileSync(join(out, svgs.similarity), 'utf8'), 'mark-rect role-mark'), 'N maps of N cells').toBe(N * N);
    expect(markCount(readFileSync(join(out, svgs.filters), 'utf8'), 'mark-rect role-mark'), '28 tiles of 7×7').toBe(28 * 49);

    const j = JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8')) as ExplainJson;
    expect(j.map).toMatchObject({ source: 'rollout from the class token', layer: null });
    expect(j.images).toHaveLength(1);
    const img = j.images[0];
    expect(img.map).toHaveLength(4);
    expect(Math.max(...img.map_scaled.flat())).toBe(1);
    expect(img.top?.label).toBe('Bag');

    // The model-only numbers: exactly the library's float32 values (the JSON keeps each as its shortest exact decimal).
    const weights = readWeights(readFileSync(BUNDLED), BUNDLED);
    const sim = positionSimilarity(weights).similarity;
    expect(j.position_similarity.similarity.flat().map(Math.fround)).toEqual(Array.from(sim));
    const pcs = patchFilterComponents(weights);
    expect(j.filter_components.components.map((v) => v.map(Math.fround))).toEqual(pcs.components.map((v) => Array.from(v)));
    expect(j.filter_components.variance_ratio.map((v, i) => Math.abs(v - pcs.varianceRatio[i]) < 1e-8)).toEqual(pcs.varianceRatio.map(() => true));

    // The attention numbers: the library's explain() on the same image, preprocessed the same way, in this process.
    const device = await testDevice();
    const model = await ViTModel.fromWeights(device, weights, { batch: 1, tune: false });
    const pre = new ImagePreprocessor(device, model.preprocess);
    try {
      const input = await pre.run([await decodeImage(readFileSync(join(ROOT, 'examples', 'bag.png')), 'bag.png')]);
      const ex = await model.explain(input, { batch: 1 });
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
      expect(img.map.flat().every((v, i) => close(v, ex.rollout[0][i])), `map ${JSON.stringify(img.map)} vs library ${Array.from(ex.rollout[0])}`).toBe(true);
      ex.distance.forEach((d, l) => expect(img.distance[l].every((v, h) => close(v, d[h])), `layer ${l} distances`).toBe(true));
      expect(j.attention_distance.mean).toEqual(img.distance); // one image: the mean is its own
      expect(j.attention_distance.uniform).toBeGreaterThan(0);
    } finally {
      await pre.dispose();
      await model.dispose();
    }
  });

  it('tiny 3-channel fixture, two images, --layer 2 --json: stdout is explain.json; layer 2’s own attention; images of one name kept apart', () => {
    const out = join(tmp, 'tiny');
    const r = cli('explain', 'examples/bag.png', 'examples/bag.png', '--model', TINY_RGB, '-o', out, '--layer', '2', '--json', '--no-tune');
    expect(r.code, errText(r.stderr)).toBe(0);
    const j = JSON.parse(r.stdout) as ExplainJson;
    expect(JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8'))).toEqual(j);
    expect(j.map.layer).toBe(2);
    expect(j.map.source).toMatch(/layer/i);
    expect(j.images.map((i) => i.png)).toEqual([join(out, 'bag.attention.png'), join(out, 'bag-2.attention.png')]);
    // The same image twice: the same map and distances (batch slots do not leak into each other).
    expect(j.images[1].map).toEqual(j.images[0].map);
    expect(j.images[0].distance).toHaveLength(2); // 2 layers
    expect(j.images[0].distance[0]).toHaveLength(4); // 4 heads
    expect(j.filter_components.channels).toBe(3);
    expect(j.filter_components.components).toHaveLength(28);
    expect(j.filter_components.components[0]).toHaveLength(3 * 8 * 8);
    for (const f of ['attention-distance.svg', 'position-similarity.svg', 'filter-components.svg']) expectWellFormedSvg(readFileSync(join(out, f), 'utf8'), f);
    const png = PNG.sync.read(readFileSync(join(out, 'bag-2.attention.png')));
    expect([png.width, png.height]).toEqual([2 * 224 + 4, 224]);
  });

  it('mean-pooled fixture: the map is the mean over patch queries, and the output says so', () => {
    const out = join(tmp, 'mean');
    const r = cli('explain', 'examples/dress.png', '--model', TINY_MEAN, '-o', out, '--json', '--no-tune');
    expect(r.code, errText(r.stderr)).toBe(0);
    const j = JSON.parse(r.stdout) as ExplainJson;
    expect(j.map.source).toMatch(/mean/);
    expect(j.images[0].map.flat().every(Number.isFinite)).toBe(true);
  });

  it('a bad image among good ones is reported on its own; the rest are explained; exit 1', () => {
    const out = join(tmp, 'mixed');
    writeFileSync(join(tmp, 'broken.png'), 'not an image\n');
    const r = cli('explain', join(tmp, 'broken.png'), 'examples/sneaker.png', '--model', TINY_MEAN, '-o', out, '--no-tune');
    expect(r.code).toBe(1);
    expect(errText(r.stderr)).toMatch(/broken\.png: .*not a PNG or JPEG|broken\.png: /);
    expect(r.stdout).toMatch(/examples\/sneaker\.png: .*sneaker\.attention\.png/);
    expect(existsSync(join(out, 'sneaker.attention.png'))).toBe(true);
    expect(existsSync(join(out, 'explain.json'))).toBe(true);
  });

  it('refuses a single-patch model and a batch whose attention matrices exceed the limit, with the numbers (exit 1), and bad options (exit 2)', () => {
    const seed = freshSeed();
    const one = join(tmp, `one_patch_${seed}.safetensors`);
    randomModel(one, { image_size: 16, patch_size: 16 });
    const r1 = cli('explain', 'examples/bag.png', '--model', one, '-o', join(tmp, 'x'));
    expect(r1.code).toBe(1);
    expect(errText(r1.stderr)).toMatch(/1 patch .*at least 2×2 patches/);

    // 4097 tokens, 2 layers: 134 MB of attention per image, so 9 images in one pass are above 1 GiB.
    const big = join(tmp, 'big.safetensors');
    randomModel(big, { image_size: 256, patch_size: 4 });
    const r2 = cli('explain', ...Array(9).fill('examples/bag.png'), '--batch', '9', '--model', big, '-o', join(tmp, 'y'));
    expect(r2.code).toBe(1);
    expect(errText(r2.stderr)).toMatch(/explaining 9 images needs \d+ bytes .*above the limit of 1073741824 bytes.*explain at most [78] images per call/);
    expect(existsSync(join(tmp, 'y')), 'nothing written').toBe(false);

    const notDir = cli('explain', 'examples/bag.png', '--model', TINY_MEAN, '-o', 'examples/bag.png/out');
    expect(notDir.code).toBe(1);
    expect(errText(notDir.stderr)).toMatch(/-o examples\/bag\.png\/out: examples\/bag\.png is a regular file, not a folder/);

    const noOut = cli('explain', 'examples/bag.png');
    expect(noOut.code).toBe(2);
    expect(errText(noOut.stderr)).toMatch(/needs -o DIR/);
    const layer = cli('explain', 'examples/bag.png', '--model', TINY_MEAN, '-o', join(tmp, 'z'), '--layer', '9');
    expect(layer.code).toBe(2);
    expect(errText(layer.stderr)).toMatch(/--layer 9: .* has 2 layers \(1 to 2\)/);
  });

  it('is listed in `webvit --help` and has its own --help', () => {
    expect(cli('--help').stdout).toMatch(/webvit explain IMAGE\.\.\. -o DIR/);
    const h = cli('explain', '--help');
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/attention-distance\.svg/);
  });
});
