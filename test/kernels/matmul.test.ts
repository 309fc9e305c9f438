import { describe, it } from 'vitest';
import { linear, MATMUL_VARIANTS, type MatmulEpilogue, type MatmulVariant } from '../../src/kernels/matmul/op.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { floatToHalf, halfToFloat } from '../../src/model/safetensors.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64. A float32 dot product of length K carries
// ~sqrt(K)·2^-24 relative error (K = 3072: ~3e-6), so 1e-5 holds for ViT sizes with margin, while
// any indexing, masking or epilogue mistake gives errors of order 1.
const TOL = 1e-5;

const shapes: [string, number, number, number][] = [
  // name, M, K, N
  ['ViT-S qkv, 197 tokens', 197, 384, 1152],
  ['3 images × 50 tokens, mlp', 150, 64, 256],
  ['classifier 1000 classes, batch 3', 3, 192, 1000],
  ['odd everything (scalar paths)', 37, 49, 10],
  ['K not multiple of 4, N multiple', 65, 50, 68],
  ['K multiple of 4, N odd', 1, 20, 7],
  ['exact tile fit', 128, 64, 128],
];

const EPILOGUES: MatmulEpilogue[] = ['none', 'gelu', 'residual'];

// Every variant runs through the same shapes; epilogues rotate over the shapes so each variant
// sees each epilogue on aligned and unaligned shapes. The default variant also gets every
// epilogue on every shape.
for (const variant of Object.keys(MATMUL_VARIANTS) as MatmulVariant[]) {
  describe(`matmul/${variant}`, () => {
    shapes.forEach(([name, M, K, N], i) => {
      const epilogues = variant === 'tiled' ? EPILOGUES : [EPILOGUES[i % 3]];
      for (const epilogue of epilogues) {
        it(`${name}: ${M}x${K}x${N}, epilogue ${epilogue}`, async (ctx) => {
          const device = await testDevice();
          skipIfUnavailable(ctx, device, 'matmul', variant);
          const seed = freshSeed();
          const r = rng(seed);
          const a = randn(r, M * K);
          const w = randn(r, K * N, 1 / Math.sqrt(K));
          const bias = randn(r, N, 0.5);
          const residual = epilogue === 'residual' ? randn(r, M * N) : undefined;
          const inputs: Record<string, Float32Array> = { a, w, bias };
          if (residual) inputs.residual = residual;
          const got = await runDispatch(
            device,
            (b) => linear({ label: 'test.linear', M, K, N, a: b.a, w: b.w, bias: b.bias, residual: b.residual, out: b.out, epilogue, variant }),
            { inputs, outputs: { out: M * N } },
          );
          const err = relL2(got.out, linearRef(a, w, bias, residual, M, K, N, epilogue));
          expectWithin(`matmul/${variant} ${M}x${K}x${N} ${epilogue}`, err, TOL, seed, got.out);
        });
      }
    });

    it('works without bias', async (ctx) => {
      const device = await testDevice();
      skipIfUnavailable(ctx, device, 'matmul', variant);
      const seed = freshSeed();
      const r = rng(seed);
      const [M, K, N] = [50, 48, 144];
      const a = randn(r, M * K);
      const w = randn(r, K * N);
      const got = await runDispatch(device, (b) => linear({ label: 'test.nobias', M, K, N, a: b.a, w: b.w, out: b.out, epilogue: 'none', variant }), {
        inputs: { a, w },
        outputs: { out: M * N },
      });
      const err = relL2(got.out, linearRef(a, w, undefined, undefined, M, K, N, 'none'));
      expectWithin(`matmul/${variant} no bias`, err, TOL, seed, got.out);
    });
  });
}

// Half-precision weights (two IEEE halves per u32, unpacked in the kernel): the reference uses the
// same half-rounded weights, so the f32 tolerance still holds; vec4 (N % 4 == 0) and scalar
// (odd N, odd K·N: the last u32 holds one padded half) paths, tiled and naive.
describe('matmul with f16 weights', () => {
  const cases: [MatmulVariant, number, number, number][] = [['tiled', 197, 64, 192], ['tiled', 37, 49, 11], ['naive', 21, 16, 13], ['tiled_32x64', 3, 64, 1000], ['register_4x4', 37, 49, 11], ['register_4x4', 50, 64, 96], ['subgroup_8x4', 197, 64, 192], ['subgroup_8x8', 37, 49, 11], ['subgroup_16x4', 50, 64, 96], ['subgroup_4x4', 3, 64, 1000]];
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
        (b) => linear({ label: 'test.half', M, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue: 'gelu', variant, wHalf: true }),
        { inputs: { a, w, bias }, outputs: { out: M * N } },
      );
      const err = relL2(got.out, linearRef(a, wRounded, bias, undefined, M, K, N, 'gelu'));
      expectWithin(`matmul/${variant} f16 weights ${M}x${K}x${N}`, err, TOL, seed, got.out);
    });
  }
});
