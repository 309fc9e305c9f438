import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { pool, POOL_VARIANTS, type PoolShape, type PoolVariant } from './op.js';

/** pool: the image representation picked out of the token sequence (class token(s) or mean). */
export const POOL: OpDefinition<PoolShape, PoolVariant, 'pool'> = {
  name: 'pool',
  variants: POOL_VARIANTS,
  defaultVariant: 'tokens',
  // Relative L2 ≤ 1e-5: cls is a copy (exact); mean sums ≤ 196 float32 terms (~1e-6).
  tol: 1e-5,
  sample: ({ batch, T, D }, r) => ({ x: randn(r, batch * T * D) }),
  outputLength: (s) => s.batch * s.D * (s.mode === 'cls' ? s.prefix : 1),
  dispatch: (s, variant, b, { label }) => pool({ label, ...s, x: b.x, out: b.out, variant }),
};
