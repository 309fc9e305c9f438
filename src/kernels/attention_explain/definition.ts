import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { attentionExplain, ATTENTION_EXPLAIN_VARIANTS, type AttentionExplainShape, type AttentionExplainVariant } from './op.js';

/**
 * attention_explain: attention plus each patch query's mean attention distance (pixels), fused.
 * Its checked output `out` here is the distances [B, H, N] (what the op adds); the attention
 * output it also writes is bound as `att` (an extra buffer from `sample`) and is checked against
 * attentionRef, poisoned, by test/kernels/attention_explain.test.ts.
 */
export const ATTENTION_EXPLAIN: OpDefinition<AttentionExplainShape, AttentionExplainVariant, 'attention_explain'> = {
  name: 'attention_explain',
  variants: ATTENTION_EXPLAIN_VARIANTS,
  defaultVariant: 'online_softmax',
  // Relative L2 ≤ 1e-5 against float64: each distance is a sum of non-negative terms p·d divided
  // by the sum of the p, both carrying the few-ulp errors of the scores and exp (as attention's
  // 1e-5); a wrong patch coordinate, a prefix key counted, or a missed rescale gives errors of
  // order 0.1–1.
  tol: 1e-5,
  // Spread of 2: peaked softmaxes (scores up to ~±20) exercise the running max and the rescaling.
  sample: ({ batch, T, heads, headDim, bias }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2), att: new Float32Array(batch * T * heads * headDim), ...(bias ? { bias: randn(r, heads * T * T, 2) } : {}) }),
  outputLength: (s) => s.batch * s.heads * s.grid * s.grid,
  dispatch: (s, variant, b, ctx) =>
    attentionExplain({ label: ctx.label, ...s, qkv: b.qkv, out: b.att, dist: b.out, bias: s.bias ? b.bias : undefined, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, variant }),
};
