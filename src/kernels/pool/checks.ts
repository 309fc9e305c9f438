import type { OpChecks, TestCase } from '../definition.js';
import type { Pooling, PoolShape, PoolVariant } from './op.js';
import { poolRef } from './reference.js';

// [batch, T, D, prefix tokens]: 1 = class token, 2 = class + distillation (DeiT), 0 = none (mean only)
const SIZES = [[1, 197, 384, 1], [3, 50, 48, 1], [2, 17, 10, 1], [3, 198, 24, 2]];

/** pool's checks (the definition: POOL, ./definition.ts). */
export const POOL_CHECKS: OpChecks<PoolShape, PoolVariant> = {
  testShapes: (['cls', 'mean'] as Pooling[]).flatMap((mode): TestCase<PoolShape, PoolVariant>[] =>
    [...SIZES, ...(mode === 'mean' ? [[2, 196, 20, 0]] : [])].map(([batch, T, D, prefix]) => ({
      name: `${mode}: batch ${batch}, T ${T}, D ${D}, prefix ${prefix}`,
      shape: { mode, batch, T, D, prefix },
    })),
  ),
  reference: ({ mode, batch, T, D, prefix }, x) => poolRef(x.x, mode, batch, T, D, prefix),
};
