import type { OpDefinition, TestCase } from '../definition.js';
import { randn } from '../sample.js';
import { pool, POOL_VARIANTS, type Pooling, type PoolShape, type PoolVariant } from './op.js';
import { poolRef } from './reference.js';

// [batch, T, D, prefix tokens]: 1 = class token, 2 = class + distillation (DeiT), 0 = none (mean only)
const SIZES = [[1, 197, 384, 1], [3, 50, 48, 1], [2, 17, 10, 1], [3, 198, 24, 2]];

/** pool: the image representation picked out of the token sequence (class token(s) or mean). */
export const POOL: OpDefinition<PoolShape, PoolVariant, 'pool'> = {
  name: 'pool',
  variants: POOL_VARIANTS,
  defaultVariant: 'tokens',
  // Relative L2 ≤ 1e-5: cls is a copy (exact); mean sums ≤ 196 float32 terms (~1e-6).
  tol: 1e-5,
  testShapes: (['cls', 'mean'] as Pooling[]).flatMap((mode): TestCase<PoolShape, PoolVariant>[] =>
    [...SIZES, ...(mode === 'mean' ? [[2, 196, 20, 0]] : [])].map(([batch, T, D, prefix]) => ({
      name: `${mode}: batch ${batch}, T ${T}, D ${D}, prefix ${prefix}`,
      shape: { mode, batch, T, D, prefix },
    })),
  ),
  sample: ({ batch, T, D }, r) => ({ x: randn(r, batch * T * D) }),
  reference: ({ mode, batch, T, D, prefix }, x) => poolRef(x.x, mode, batch, T, D, prefix),
  outputLength: (s) => s.batch * s.D * (s.mode === 'cls' ? s.prefix : 1),
  dispatch: (s, variant, b, { label }) => pool({ label, ...s, x: b.x, out: b.out, variant }),
};
