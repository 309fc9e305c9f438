import { describe, expect, it } from 'vitest';
import { variantNames } from '../../src/kernels/definition.js';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { linear, type MatmulEpilogue, type MatmulVariant } from '../../src/kernels/matmul/op.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { dequantize, quantize, type QuantizedMatrix, type QuantKind } from '../../src/kernels/matmul/quant.js';
import { QUANT_READS } from '../../src/kernels/matmul/quant_read.js';
import { registerWeightReads } from '../../src/kernels/matmul/weight_read.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { floatToHalf, halfToFloat } from '../../src/model/safetensors.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import { GELU_ACTIVATION } from '../../src/kernels/gelu/activation.js';
import { patchEmbed } from '../../src/kernels/patch_embed/op.js';
import { patchEmbedRef } from '../../src/kernels/patch_embed/reference.js';

// Every matmul variant runs through the shapes of its definition with the other ops (ops.test.ts).
// This adds what only a matmul has: weights stored as IEEE halves, int8 or q4 codes. Tolerance:
// MATMUL.tol (1e-5) for all of them, because the reference multiplies by the weights the kernel
// actually holds (half-rounded, or dequantised: code · scale in float64) and those are exact in
// f32 (a half; an int8 or 4-bit code, and code · f16 scale), so only the f32 accumulation differs.

/** Raw bytes as a Float32Array view for upload (padded to whole u32 words). */
function words(bytes: Uint8Array): Float32Array {
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  padded.set(bytes);
  return new Float32Array(padded.buffer);
}
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// Half-precision weights (two IEEE halves per u32, unpacked in the kernel): vec4 (N % 4 == 0)
// and scalar (odd N, odd K·N: the last u32 holds one padded half) paths.
describe('matmul with f16 weights', () => {
  const cases: [MatmulVariant, number, number, number][] = [['tiled', 197, 64, 192], ['tiled', 37, 49, 11], ['naive', 21, 16, 13], ['tiled_32x64', 3, 64, 1000], ['register_4x4', 37, 49, 11], ['register_4x4', 50, 64, 96], ['subgroup_8x4', 197, 64, 192], ['subgroup_8x8', 37, 49, 11], ['subgroup_16x4', 50, 64, 96], ['subgroup_4x4', 3, 64, 1000], ['big_128x64', 197, 64, 192], ['big_128x64', 37, 49, 11], ['big_128x128', 3, 64, 1000], ['slicedk_16x64', 197, 64, 192], ['slicedk_16x64', 37, 49, 11], ['slicedk_32x64', 3, 64, 1000]];
  for (const [variant, M, K, N] of cases) {
    it(`${variant} ${M}x${K}x${N}`, async (ctx) => {
      const device = await testDevice();
      skipIfUnavailable(ctx, device, 'matmul', variant);
      const seed = freshSeed();
      const r = rng(seed);
      const a = randn(r, M * K);
      const w32 = randn(r, K * N, 1 / Math.sqrt(K));
      const bits = Uint16Array.from(w32, floatToHalf);
      const wRounded = Float32Array.from(bits, halfToFloat);
      const bias = randn(r, N, 0.5);
      const got = await runDispatch(
        device,
        (b) => linear({ label: 'test.half', M, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue: GELU_ACTIVATION, variant, wStorage: 'f16' }),
        { inputs: { a, w: words(bytes(bits)), bias }, outputs: { out: M * N } },
      );
      const err = relL2(got.out, linearRef(a, wRounded, bias, undefined, M, K, N, GELU_ACTIVATION));
      expectWithin(`matmul/${variant} f16 weights ${M}x${K}x${N}`, err, MATMUL.tol, seed, got.out);
    });
  }
});

// int8 and q4 weights (src/kernels/matmul/quant.ts), every variant, on shapes on and off the
// tiles, off the q4 block of 32 along K, with vec4 and scalar paths: ViT-S-like fc at 197 tokens,
// the 1000-class head at batch 3 (K 72: a partial last q4 block), odd everything, K not a
// multiple of 4, and batch 1 with 7 classes. Epilogues rotate over the shapes.
const QUANT_SHAPES: [number, number, number, MatmulEpilogue][] = [
  [197, 64, 192, GELU_ACTIVATION],
  [3, 72, 1000, 'none'],
  [37, 49, 11, 'residual'],
  [50, 50, 68, GELU_ACTIVATION],
  [1, 20, 7, 'none'],
];
registerWeightReads(QUANT_READS);
for (const kind of ['int8', 'q4'] as QuantKind[]) {
  describe(`matmul with ${kind} weights`, () => {
    for (const variant of variantNames(MATMUL)) {
      for (const [M, K, N, epilogue] of QUANT_SHAPES) {
        it(`${variant} ${M}x${K}x${N}`, async (ctx) => {
          const device = await testDevice();
          skipIfUnavailable(ctx, device, MATMUL, variant);
          const seed = freshSeed();
          const r = rng(seed);
          const a = randn(r, M * K);
          // Columns of different sizes, so that a scale read for the wrong column or block shows.
          const w32 = randn(r, K * N, 1 / Math.sqrt(K)).map((v, i) => v * (1 + ((i % N) % 5)) * (1 + (Math.floor(i / N / 32) % 3)));
          const q = quantize(w32, K, N, kind);
          const bias = randn(r, N, 0.5);
          const residual = randn(r, M * N);
          const got = await runDispatch(
            device,
            (b) => linear({ label: `test.${kind}`, M, K, N, a: b.a, w: b.w, wScale: b.wscale, bias: b.bias, residual: epilogue === 'residual' ? b.residual : undefined, out: b.out, epilogue, variant, wStorage: kind }),
            { inputs: { a, w: words(q.codes), wscale: words(bytes(q.scales)), bias, ...(epilogue === 'residual' ? { residual } : {}) }, outputs: { out: M * N } },
          );
          const want = linearRef(a, dequantize(q), bias, residual, M, K, N, epilogue);
          const err = relL2(got.out, want);
          expectWithin(`matmul/${variant} ${kind} weights ${M}x${K}x${N}`, err, MATMUL.tol, seed, got.out);
          // The codes do differ from the f32 weights: the kernel is not reading an f32 copy.
          expect(relL2(got.out, linearRef(a, w32, bias, residual, M, K, N, epilogue))).toBeGreaterThan(10 * MATMUL.tol);
        });
      }
    }
  });
}

describe('matmul weight storage is checked', () => {
  it('a quantised weight needs its scales, an f32 one has none', () => {
    const s = { buffer: {} as GPUBuffer, offset: 0, size: 1 << 20 };
    const base = { label: 'test', M: 4, K: 8, N: 8, a: s, w: s, out: s, epilogue: 'none' as const };
    expect(() => linear({ ...base, wStorage: 'q4' })).toThrow(/wScale/);
    expect(() => linear({ ...base, wScale: s })).toThrow(/wScale/);
    const d = linear({ ...base, wStorage: 'q4', wScale: s });
    // 64 nibbles = 8 words; 1 block × 8 f16 scales = 4 words.
    expect([d.sizes.w, d.sizes.wscale]).toEqual([32, 16]);
    expect(linear({ ...base, wStorage: 'int8', wScale: s }).sizes).toMatchObject({ w: 64, wscale: 32 });
  });
});

// The tuner times int8 and q4 problems as they are (their own key), on the definition's sample:
// random codes and scales. That sample, dispatched through the definition, against float64.
describe('matmul tuning samples with quantised weights', () => {
  for (const kind of ['int8', 'q4'] as QuantKind[]) {
    it(`${kind}: its own tuning key; the sample's codes and scales against float64`, async () => {
      const t = MATMUL.tuning!;
      const node = { M: 50, K: 72, N: 96, epilogue: GELU_ACTIVATION, bias: true, wStorage: kind } as const;
      const problem = t.problem(node);
      expect(t.key(problem)).toBe(`50x72x96.${kind}`);
      expect(t.key(t.problem({ ...node, wStorage: 'f16' }))).toBe('50x72x96');
      const device = await testDevice();
      const seed = freshSeed();
      const inputs = MATMUL.sample(problem, rng(seed));
      const { K, N, M } = problem;
      const q: QuantizedMatrix = {
        kind, K, N,
        codes: new Uint8Array(inputs.w.buffer),
        scales: kind === 'int8' ? inputs.wscale : new Uint16Array(inputs.wscale.buffer, 0, Math.ceil(K / 32) * N),
      };
      const want = linearRef(inputs.a, dequantize(q), inputs.bias, undefined, M, K, N, 'none');
      for (const variant of ['tiled', 'register_4x4', 'subgroup_8x4'] as MatmulVariant[]) {
        if (variant === 'subgroup_8x4' && !device.features.has('subgroups')) continue;
        const got = await runDispatch(device, (b) => MATMUL.dispatch(problem, variant, b, { label: 'test.sample', maxWorkgroupStorage: 16384 }), { inputs, outputs: { out: M * N } });
        expectWithin(`matmul/${variant} ${kind} tuning sample`, relL2(got.out, want), MATMUL.tol, seed, got.out);
      }
    });
  }
});

// The patch embedding is a matmul on gathered pixels (the tiled kernel with its own loader and
// epilogue): int8 and q4 weights there too, on a vec4 shape (P 8, D 64: K 192, 6 q4 blocks) and a
// scalar one (P 7, D 10: K 49, a partial block), against float64 of the dequantised weights.
describe('patch_embed with int8 and q4 weights', () => {
  for (const kind of ['int8', 'q4'] as QuantKind[]) {
    for (const [C, S, P, D, B] of [[3, 32, 8, 64, 2], [1, 28, 7, 10, 3]]) {
      it(`${kind} ${B}x${C}x${S}x${S}, patch ${P}, D ${D}`, async () => {
        const device = await testDevice();
        const seed = freshSeed();
        const r = rng(seed);
        const K = C * P * P;
        const T = 1 + (S / P) ** 2;
        const image = randn(r, B * C * S * S);
        const q = quantize(randn(r, K * D, 1 / Math.sqrt(K)), K, D, kind);
        const bias = randn(r, D, 0.5);
        const cls = randn(r, D);
        const pos = randn(r, T * D);
        const got = await runDispatch(
          device,
          (b) => patchEmbed({ label: `test.patch.${kind}`, batch: B, channels: C, imageSize: S, patchSize: P, D, image: b.image, w: b.w, wScale: b.wscale, wStorage: kind, bias: b.bias, cls: b.cls, pos: b.pos, out: b.out }),
          { inputs: { image, w: words(q.codes), wscale: words(bytes(q.scales)), bias, cls, pos }, outputs: { out: B * T * D } },
        );
        const want = patchEmbedRef(image, dequantize(q), bias, [cls], pos, B, C, S, P, D);
        expectWithin(`patch_embed ${kind} ${B}x${C}x${S}x${S}/${P} D ${D}`, relL2(got.out, want), MATMUL.tol, seed, got.out);
      });
    }
  }
});
