import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { attentionExplain, ATTENTION_EXPLAIN_VARIANTS, type AttentionExplainShape, type AttentionExplainVariant } from './op.js';
import { attentionDistanceRef } from './reference.js';

const cases: [string, number, number, number, number, number, number, number | undefined][] = [
  // name, batch, grid, prefix, heads, headDim, patch size, workgroup storage limit (the device's when undefined)
  ['ViT-S/16: 14×14 patches + class token, 6 heads of 64', 1, 14, 1, 6, 64, 16, 16384],
  ['odd grid 5×5, class + distillation token, 3 heads of 16, batch 2', 2, 5, 2, 3, 16, 7, 16384],
  ['no prefix (mean-pooled), 7×7, scalar path: head dim 6, batch 3', 3, 7, 0, 2, 6, 4, 16384],
  ['small workgroup memory: key tiles of 8, 9×9 + class token', 1, 9, 1, 2, 64, 8, 4096],
  ['one patch: every distance is 0', 2, 1, 1, 2, 8, 32, 16384],
];

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
  testShapes: cases.map(([name, batch, grid, prefix, heads, headDim, patchSize, maxWorkgroupStorage]) => ({
    name,
    shape: { batch, T: prefix + grid * grid, heads, headDim, prefix, grid, patchSize, maxWorkgroupStorage },
  })),
  // Spread of 2: peaked softmaxes (scores up to ~±20) exercise the running max and the rescaling.
  sample: ({ batch, T, heads, headDim }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2), att: new Float32Array(batch * T * heads * headDim) }),
  reference: (s, x) => attentionDistanceRef(x.qkv, s.batch, s.T, s.heads, s.headDim, s.prefix, s.grid, s.patchSize),
  outputLength: (s) => s.batch * s.heads * s.grid * s.grid,
  dispatch: (s, variant, b, ctx) =>
    attentionExplain({ label: ctx.label, ...s, qkv: b.qkv, out: b.att, dist: b.out, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, variant }),
};
