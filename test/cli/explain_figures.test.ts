import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { colormap } from '../../src/cli/figures/colormap.js';
import { overlayPng } from '../../src/cli/figures/overlay.js';
import { f32, meanDistance, uniformAttentionDistance } from '../../src/cli/figures/attention_summary.js';
import { distancePlot } from '../../src/cli/figures/distance_plot.js';
import { filterTiles } from '../../src/cli/figures/filter_tiles.js';
import { parseConfig } from '../../src/model/config.js';
import type { PreprocessConfig } from '../../src/image/preprocess.js';

// The explain command's figure pieces on their own (the command end to end: explain.test.ts).

const grey: PreprocessConfig = { resize: 28, crop: 28, interpolation: 'bilinear', mean: [0.5], std: [0.25], channels: 'grayscale', isDefault: false };

describe('overlayPng', () => {
  it('left panel: the normalisation undone, each input pixel an f×f square; right: the map coloured and blended at its patch', () => {
    const S = 28;
    const G = 4;
    // Pixel levels: value v normalises to (v/255 − 0.5)/0.25; a ramp along x.
    const pixels = new Float32Array(S * S);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) pixels[y * S + x] = ((x * 9) / 255 - 0.5) / 0.25;
    // One hot patch (row 1, column 2) at 5, the rest 0: scaled by its max, 1 there.
    const map = new Float32Array(G * G);
    map[1 * G + 2] = 5;
    const png = PNG.sync.read(Buffer.from(overlayPng({ pixels, channels: 1, size: S, preprocess: grey, map, grid: G })));
    const f = 8; // 224 / 28
    expect([png.width, png.height]).toEqual([2 * S * f + 4, S * f]);
    const at = (X: number, Y: number) => Array.from(png.data.subarray(4 * (Y * png.width + X), 4 * (Y * png.width + X) + 4));
    for (const x of [0, 5, 27]) for (const dx of [0, f - 1]) expect(at(x * f + dx, 3)).toEqual([9 * x, 9 * x, 9 * x, 255]);
    // Right panel at the hot patch's centre: 0.45·image + 0.55·inferno(1); far corner: inferno(0).
    const lut = colormap('inferno');
    const blend = (img: number, k: number) => [0, 1, 2].map((ch) => Math.round(0.45 * img + 0.55 * lut[3 * k + ch]));
    const right = S * f + 4;
    // Bilinear upsampling from patch centres is a tent around the hot centre (grid (1, 2)):
    // v = (1 − |gx − 2|)·(1 − |gy − 1|), gx, gy the grid coordinates of the output pixel's centre.
    const grid = (X: number) => ((X + 0.5) / (S * f)) * G - 0.5;
    const tent = (X: number, Y: number) => Math.max(0, 1 - Math.abs(grid(X) - 2)) * Math.max(0, 1 - Math.abs(grid(Y) - 1));
    for (const [X, Y] of [[139, 83], [140, 84], [160, 84], [170, 70], [120, 100], [196, 84]]) {
      // Within 2 levels: the two formulas round v·255 differently at .5 (one colour-map step ≈ 3 levels × 0.55).
      const want = blend(9 * Math.floor(X / f), Math.round(255 * tent(X, Y)));
      at(right + X, Y).slice(0, 3).forEach((v, ch) => expect(Math.abs(v - want[ch]), `(${X}, ${Y}) channel ${ch}: ${v} vs ${want[ch]}`).toBeLessThanOrEqual(2));
    }
    expect(tent(139, 83)).toBeGreaterThan(0.98); // the centre itself is covered
    // Far corner: colour 0.
    expect(at(right + 0, S * f - 1).slice(0, 3)).toEqual(blend(0, 0));
  });

  it('a map of zeros draws the image under colour 0, not NaN', () => {
    const png = PNG.sync.read(Buffer.from(overlayPng({ pixels: new Float32Array(28 * 28), channels: 1, size: 28, preprocess: grey, map: new Float32Array(4), grid: 2 })));
    expect(png.data.every((v) => Number.isInteger(v))).toBe(true);
  });
});

describe('colormap', () => {
  it("is matplotlib's inferno and viridis at the ends (Vega's schemes)", () => {
    const inferno = colormap('inferno');
    const viridis = colormap('viridis');
    expect(Array.from(inferno.subarray(0, 3))).toEqual([0, 0, 4]);
    expect(Array.from(viridis.subarray(0, 3))).toEqual([68, 1, 84]);
    expect(Array.from(viridis.subarray(765, 768))).toEqual([253, 231, 37]);
  });
});

describe('distance summary', () => {
  it('uniform attention distance: the mean pixel distance between patch centres', () => {
    // 2×2 patches of 3 px: 4 pairs at 0, 8 at 3 px, 4 at 3√2 px.
    const c = parseConfig({ image_size: 6, patch_size: 3, num_channels: 1, hidden_size: 8, num_layers: 1, num_heads: 2, mlp_size: 8, num_classes: 2, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls' }, 'test');
    expect(uniformAttentionDistance(c)).toBeCloseTo((8 * 3 + 4 * 3 * Math.SQRT2) / 16, 12);
  });

  it('meanDistance averages [image][layer][head] over images; f32 keeps float32 values exact', () => {
    expect(meanDistance([[[1, 2]], [[3, 6]]])).toEqual([[2, 4]]);
    expect(meanDistance([])).toEqual([]);
    const v = Math.fround(0.1);
    expect(Math.fround(f32(v))).toBe(v);
    expect(String(f32(v))).toBe('0.1');
  });
});

describe('vega figures', () => {
  it('distance plot: one dot per head and layer; filter tiles refuse a channel count with no picture', async () => {
    const svg = await distancePlot({ mean: [[1, 2, 3], [4, 5, 6]], images: 2, imageSize: 28, uniform: 5 });
    const group = svg.slice(svg.indexOf('<g class="mark-symbol role-mark"'));
    expect(group.slice(0, group.indexOf('</g>')).match(/<path /g)).toHaveLength(6);
    expect(svg).toContain('averaged over 2 images');
    expect(() => filterTiles(2, 4, [new Float32Array(16)], [1])).toThrow(/4-channel/);
  });
});
