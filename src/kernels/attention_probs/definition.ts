import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { attentionProbs, ATTENTION_PROBS_VARIANTS, type AttentionProbsShape, type AttentionProbsVariant } from './op.js';

/** attention_probs: the softmax attention matrix averaged over heads, [B, T, T]. */
export const ATTENTION_PROBS: OpDefinition<AttentionProbsShape, AttentionProbsVariant, 'attention_probs'> = {
  name: 'attention_probs',
  variants: ATTENTION_PROBS_VARIANTS,
  defaultVariant: 'query_tiles',
  // Relative L2 ≤ 1e-5 against float64: each probability is e^(s − max) / sum with scores of a few
  // ulps' error (|s| up to ~20 here) and a sum of T float32 terms; a wrong head, row or missed
  // rescale in the merge of the (max, sum) pairs gives errors of order 1.
  tol: 1e-5,
  // Spread of 2: peaked softmaxes (scores up to ~±20) exercise the max merge.
  sample: ({ batch, T, heads, headDim, bias }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2), ...(bias ? { bias: randn(r, heads * T * T, 2) } : {}) }),
  outputLength: (s) => s.batch * s.T * s.T,
  dispatch: (s, variant, b, ctx) => attentionProbs({ label: ctx.label, ...s, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, qkv: b.qkv, out: b.out, bias: s.bias ? b.bias : undefined, variant }),
};
