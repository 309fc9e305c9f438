import { describe, it } from 'vitest';
import { linear, MATMUL_VARIANTS, type MatmulEpilogue, type MatmulVariant } from '../../src/kernels/matmul/op.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
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
        it(`${name}: ${M}x${K}x${N}, epilogue ${epilogue}`, async () => {
          const device = await testDevice();
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

    it('works without bias', async () => {
      const device = await testDevice();
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
