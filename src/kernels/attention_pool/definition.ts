import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { attentionPool, ATTENTION_POOL_VARIANTS, type AttentionPoolShape, type AttentionPoolVariant } from './op.js';

/**
 * attention_pool: one query per head attending over every token (SigLIP's pooling head).
 * Tolerance: relative L2 ≤ 1e-5 against float64. Each output is a softmax-weighted sum of T
 * values (T ≤ a few hundred in the tests) after Dh-term dot products: float32 sums of that length
 * stay near 1e-6; a dropped chunk, a wrong head offset or a missing rescale is off by 1e-2 or more.
 */
export const ATTENTION_POOL: OpDefinition<AttentionPoolShape, AttentionPoolVariant, 'attention_pool'> = {
  name: 'attention_pool',
  variants: ATTENTION_POOL_VARIANTS,
  defaultVariant: 'chunked',
  tol: 1e-5,
  sample: ({ batch, T, heads, headDim }, r) => ({ q: randn(r, heads * headDim), kv: randn(r, 2 * batch * T * heads * headDim) }),
  outputLength: (s) => s.batch * s.heads * s.headDim,
  dispatch: (s, variant, b, { label }) => attentionPool({ label, ...s, q: b.q, kv: b.kv, out: b.out, variant }),
};
