import { describe, it } from 'vitest';
import { layerNorm, LAYERNORM_VARIANTS, type LayerNormVariant } from '../../src/kernels/layernorm/op.js';
import { layerNormRef } from '../../src/kernels/layernorm/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64. Two-pass statistics on values shifted by the
// row's first element keep every step near float32 rounding (~1e-7), including rows with a large
// mean and a tiny spread, where a one-pass E[x²]−E[x]² kernel is off by 10⁻² or worse.
const TOL = 1e-5;

const cases: [string, number, number, number, number, number][] = [
  // name, rows, D, eps, mean, spread
  ['ViT-S 197 tokens', 197, 384, 1e-6, 0, 1],
  ['3 images × 50 tokens, D = 48', 150, 48, 1e-5, 0.3, 2],
  ['ViT-B row count 3×197, D = 768', 591, 768, 1e-6, 0, 1],
  ['D not a multiple of the workgroup (D = 100)', 7, 100, 1e-6, 0, 1],
  ['large mean, small variance', 64, 384, 1e-6, 1000, 0.01],
  ['large negative mean, tiny variance, D = 4', 33, 4, 1e-12, -3e4, 0.5],
];

for (const variant of Object.keys(LAYERNORM_VARIANTS) as LayerNormVariant[]) describe(`layernorm/${variant}`, () => {
  for (const [name, rows, D, eps, mean, spread] of cases) {
    it(`${name} (rows ${rows}, D ${D}, eps ${eps})`, async (ctx) => {
      const device = await testDevice();
      skipIfUnavailable(ctx, device, 'layernorm', variant);
      const seed = freshSeed();
      const r = rng(seed);
      const x = randn(r, rows * D, spread, mean);
      const gamma = randn(r, D, 0.2, 1);
      const beta = randn(r, D, 0.2);
      const got = await runDispatch(device, (b) => layerNorm({ label: 'test.ln', rows, D, eps, x: b.x, gamma: b.gamma, beta: b.beta, out: b.out, variant }), {
        inputs: { x, gamma, beta },
        outputs: { out: rows * D },
      });
      const err = relL2(got.out, layerNormRef(x, gamma, beta, rows, D, eps));
      expectWithin(`layernorm/${variant} ${name}`, err, TOL, seed, got.out);
    });
  }
});
