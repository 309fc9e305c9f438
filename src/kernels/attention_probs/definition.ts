import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { attentionProbs, ATTENTION_PROBS_VARIANTS, type AttentionProbsShape, type AttentionProbsVariant } from './op.js';
import { headMeanProbsRef } from './reference.js';

const cases: [string, number, number, number, number, number?][] = [
  // name, batch, T, heads, headDim, workgroup storage limit (the device's when omitted)
  ['ViT-S: 197 tokens, 6 heads of 64', 1, 197, 6, 64],
  ['3 images × 27 tokens (odd), 3 heads of 16', 3, 27, 3, 16],
  ['scalar path: head dim 6, 49 tokens, batch 2', 2, 49, 2, 6],
  ['fewer keys than invocations: 2 tokens, 1 head', 2, 2, 1, 8],
  ['more keys than 2 rounds of invocations: 150 tokens, 4 heads of 12', 1, 150, 4, 12],
  ['small workgroup memory: key tiles of 8, 70 tokens, 2 heads of 64', 1, 70, 2, 64, 2048],
];

/** attention_probs: the softmax attention matrix averaged over heads, [B, T, T]. */
export const ATTENTION_PROBS: OpDefinition<AttentionProbsShape, AttentionProbsVariant, 'attention_probs'> = {
  name: 'attention_probs',
  variants: ATTENTION_PROBS_VARIANTS,
  defaultVariant: 'query_tiles',
  // Relative L2 ≤ 1e-5 against float64: each probability is e^(s − max) / sum with scores of a few
  // ulps' error (|s| up to ~20 here) and a sum of T float32 terms; a wrong head, row or missed
  // rescale in the merge of the (max, sum) pairs gives errors of order 1.
  tol: 1e-5,
  testShapes: cases.map(([name, batch, T, heads, headDim, maxWorkgroupStorage]) => ({ name, shape: { batch, T, heads, headDim, maxWorkgroupStorage } })),
  // Spread of 2: peaked softmaxes (scores up to ~±20) exercise the max merge.
  sample: ({ batch, T, heads, headDim }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2) }),
  reference: (s, x) => headMeanProbsRef(x.qkv, s.batch, s.T, s.heads, s.headDim),
  outputLength: (s) => s.batch * s.T * s.T,
  dispatch: (s, variant, b, ctx) => attentionProbs({ label: ctx.label, ...s, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, qkv: b.qkv, out: b.out, variant }),
};
