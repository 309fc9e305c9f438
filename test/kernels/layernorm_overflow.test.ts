import { describe, expect, it } from 'vitest';
import { variantNames } from '../../src/kernels/definition.js';
import { LAYERNORM } from '../../src/kernels/layernorm/definition.js';
import { layerNormRef } from '../../src/kernels/layernorm/reference.js';
import { StandaloneDispatch } from '../../src/runtime/standalone.js';
import { skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Rows whose values reach ~1e19 and more (a ViT's residual stream on an input of 1e19: the patch
// embedding keeps the input's scale; 1e21 here, so that D = 4 overflows too) overflow float32 in the sum of squared deviations. Before, the kernel
// then took 1/sqrt(+Inf) = 0 and wrote beta over the whole row: the same finite row for any input,
// so a model answered the same for every image. Now such a row is all NaN (the float64
// reference's contract too), and every other row of the same dispatch keeps its float64 answer,
// rows of 1e16 (no overflow: 768·(2e16)² ≈ 3e35) included. Outputs are poisoned with a finite value
// (7.25), so an unwritten element is not mistaken for the NaN of an overflowed row.
// Tolerance: the op's own, relative L2 ≤ 1e-5 per row against float64.
const POISON = 7.25;

/** Row kinds: [name, scale of the row's values, mean]. */
const KINDS: [string, number, number][] = [
  ['normal', 1, 0],
  ['1e21 (overflows)', 1e21, 0],
  ['1e16 (fits)', 1e16, 0],
  ['mean 1e30, spread 1e24 (overflows)', 1e24, 1e30],
  ['constant 1e30 (variance 0: beta)', 0, 1e30],
  ['±3e38 (overflows: x − pivot is ±Inf)', 3e38, 0],
];

function rowOf(kind: number, D: number, r: () => number): Float32Array {
  const [, scale, mean] = KINDS[kind];
  if (kind === 5) return Float32Array.from({ length: D }, (_, i) => (i % 2 ? 3e38 : -3e38));
  return Float32Array.from(randn(r, D, 1), (v) => mean + scale * v);
}

describe('layernorm: a row whose statistics overflow float32 is NaN, never beta', () => {
  for (const variant of variantNames(LAYERNORM)) {
    for (const D of [768, 100, 4]) {
      it(`${variant}, D ${D}: overflowing rows NaN, the others equal float64`, async (t) => {
        const device = await testDevice();
        skipIfUnavailable(t, device, LAYERNORM, variant);
        const seed = freshSeed();
        const r = rng(seed);
        // Every kind twice, in a seeded order, so overflowing rows sit between ordinary ones.
        const kinds = [...KINDS.keys(), ...KINDS.keys()].sort(() => r() - 0.5);
        const rows = kinds.length;
        const x = new Float32Array(rows * D);
        kinds.forEach((k, i) => x.set(rowOf(k, D, r), i * D));
        const gamma = Float32Array.from(randn(r, D, 0.2, 1));
        const beta = Float32Array.from(randn(r, D, 0.2));
        const shape = { rows, D, eps: 1e-6 };
        const s = await StandaloneDispatch.create(device, (b) => LAYERNORM.dispatch(shape, variant, b, { label: 'test', maxWorkgroupStorage: 16384 }), {
          inputs: { x, gamma, beta },
          outputs: { out: rows * D },
        });
        let got: Float32Array;
        try {
          s.poison(POISON);
          await s.run();
          got = await s.read('out');
        } finally {
          s.destroy();
        }
        const want = layerNormRef(x, gamma, beta, rows, D, 1e-6);
        kinds.forEach((k, i) => {
          const what = `${variant} D ${D} row ${i} (${KINDS[k][0]}), seed ${seed}`;
          const g = got.subarray(i * D, (i + 1) * D);
          const w = want.subarray(i * D, (i + 1) * D);
          if (Number.isNaN(w[0])) {
            expect(KINDS[k][0], what).toContain('overflows');
            expect(g.every(Number.isNaN), `${what}: every value NaN (got ${g.slice(0, 4).join(', ')}…)`).toBe(true);
            return;
          }
          expect(KINDS[k][0], what).not.toContain('overflows');
          let num = 0;
          let den = 0;
          for (let j = 0; j < D; j++) {
            num += (g[j] - w[j]) ** 2;
            den += w[j] ** 2;
          }
          expect(Math.sqrt(num / den), what).toBeLessThanOrEqual(LAYERNORM.tol);
        });
      });
    }
  }

  it('the float64 reference: NaN exactly for rows whose Σ(x − mean)² exceeds float32', () => {
    const D = 4;
    const x = new Float64Array([1, 2, 3, 4, 1e19, -1e19, 1e19, -1e19, 1e18, -1e18, 1e18, -1e18]);
    const out = layerNormRef(x, [1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], 3, D, 1e-6);
    expect(out.slice(4, 8).every(Number.isNaN)).toBe(true);
    expect([...out.slice(8)].map((v) => +v.toFixed(6))).toEqual([1.5, -0.5, 1.5, -0.5]);
    expect(Number.isFinite(out[0])).toBe(true);
  });
});
