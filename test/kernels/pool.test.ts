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
    // [batch, T, D, prefix tokens]: 1 = class token, 2 = class + distillation (DeiT), 0 = none (mean only)
    for (const [batch, T, D, prefix] of [[1, 197, 384, 1], [3, 50, 48, 1], [2, 17, 10, 1], [3, 198, 24, 2], ...(mode === 'mean' ? [[2, 196, 20, 0]] : [])]) {
      it(`${mode}: batch ${batch}, T ${T}, D ${D}, prefix ${prefix}`, async () => {
        const device = await testDevice();
        const seed = freshSeed();
        const x = randn(rng(seed), batch * T * D);
        const got = await runDispatch(device, (b) => pool({ label: 'test.pool', mode, batch, T, D, prefix, x: b.x, out: b.out }), {
          inputs: { x },
          outputs: { out: batch * D * (mode === 'cls' ? prefix : 1) },
        });
        const err = relL2(got.out, poolRef(x, mode, batch, T, D, prefix));
        expectWithin(`pool ${mode}`, err, TOL, seed, got.out);
      });
    }
  }
});
