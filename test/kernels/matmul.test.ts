import { describe, it } from 'vitest';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { linear, type MatmulVariant } from '../../src/kernels/matmul/op.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { floatToHalf, halfToFloat } from '../../src/model/safetensors.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import { GELU_ACTIVATION } from '../../src/kernels/gelu/activation.js';

// Every matmul variant runs through the shapes of its definition with the other ops (ops.test.ts).
// This adds what only a matmul has: weights stored as IEEE halves. Tolerance: MATMUL.tol (1e-5).
const TOL = MATMUL.tol;

// Half-precision weights (two IEEE halves per u32, unpacked in the kernel): the reference uses the
// same half-rounded weights, so the f32 tolerance still holds; vec4 (N % 4 == 0) and scalar
// (odd N, odd K·N: the last u32 holds one padded half) paths, tiled and naive.
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
      // Pack halves into u32 words (little-endian: element 2i in the low half); pad to whole words.
      const packed = new Uint16Array(bits.length + (bits.length % 2));
      packed.set(bits);
      const w = new Float32Array(packed.buffer); // raw bits, uploaded as is
      const bias = randn(r, N, 0.5);
      const got = await runDispatch(
        device,
        (b) => linear({ label: 'test.half', M, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue: GELU_ACTIVATION, variant, wHalf: true }),
        { inputs: { a, w, bias }, outputs: { out: M * N } },
      );
      const err = relL2(got.out, linearRef(a, wRounded, bias, undefined, M, K, N, GELU_ACTIVATION));
      expectWithin(`matmul/${variant} f16 weights ${M}x${K}x${N}`, err, TOL, seed, got.out);
    });
  }
});
