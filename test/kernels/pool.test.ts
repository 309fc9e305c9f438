import { describe, it } from 'vitest';
import { pool, type Pooling } from '../../src/kernels/pool/op.js';
import { poolRef } from '../../src/kernels/pool/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5: cls is a copy (exact); mean sums ≤ 196 float32 terms (~1e-6).
const TOL = 1e-5;

describe('pool', () => {
  for (const mode of ['cls', 'mean'] as Pooling[]) {
    for (const [batch, T, D] of [[1, 197, 384], [3, 50, 48], [2, 17, 10]]) {
      it(`${mode}: batch ${batch}, T ${T}, D ${D}`, async () => {
        const device = await testDevice();
        const seed = freshSeed();
        const x = randn(rng(seed), batch * T * D);
        const got = await runDispatch(device, (b) => pool({ label: 'test.pool', mode, batch, T, D, x: b.x, out: b.out }), {
          inputs: { x },
          outputs: { out: batch * D },
        });
        const err = relL2(got.out, poolRef(x, mode, batch, T, D));
        expectWithin(`pool ${mode}`, err, TOL, seed, got.out);
      });
    }
  }
});
