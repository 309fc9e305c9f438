import type { OpDefinition } from '../definition.js';
import { isCpuAdapter, unavailableReason } from '../kernel.js';
import { randn } from '../sample.js';
import { attention, ATTENTION_VARIANTS, type AttentionShape, type AttentionVariant } from './op.js';
import { attentionRef } from './reference.js';

const cases: [string, number, number, number, number, number | undefined][] = [
  // name, batch, T, heads, headDim, workgroup storage limit (the device's when undefined)
  ['ViT-S: 197 tokens, 6 heads of 64', 1, 197, 6, 64, 16384],
  ['3 images × 50 tokens, 3 heads of 16', 3, 50, 3, 16, 16384],
  ['17 tokens, 4 heads of 16, batch 2', 2, 17, 4, 16, 16384],
  ['scalar path: head dim 6', 2, 37, 2, 6, 16384],
  ['head dim 20 (not a multiple of 16: scalar quarters of 5)', 1, 33, 3, 20, 16384],
  ['head dim 8, 1 token', 1, 1, 2, 8, 16384],
  ['small workgroup memory: key tiles of 8', 1, 70, 2, 64, 4096],
];

/** attention: fused multi-head attention over the qkv activation. */
export const ATTENTION: OpDefinition<AttentionShape, AttentionVariant, 'attention'> = {
  name: 'attention',
  variants: ATTENTION_VARIANTS,
  defaultVariant: 'online_softmax',
  // Relative L2 ≤ 1e-5 against float64. Scores are dot products of length Dh (≤ 64) and the
  // online softmax rescales by exp of differences, each within a few float32 ulps; a wrong head
  // offset, mask or rescale gives errors of order 1.
  tol: 1e-5,
  testShapes: cases.map(([name, batch, T, heads, headDim, maxWorkgroupStorage]) => ({ name, shape: { batch, T, heads, headDim, maxWorkgroupStorage } })),
  // Spread of 2 gives peaked softmaxes (scores up to ~±20), which exercises the running max.
  sample: ({ batch, T, heads, headDim }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2) }),
  reference: ({ batch, T, heads, headDim }, x) => attentionRef(x.qkv, batch, T, heads, headDim),
  outputLength: (s) => s.batch * s.T * s.heads * s.headDim,
  dispatch: (s, variant, b, ctx) =>
    attention({ label: ctx.label, batch: s.batch, T: s.T, heads: s.heads, headDim: s.headDim, qkv: b.qkv, out: b.out, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, variant }),
  tuning: {
    per: 'shape',
    problem: ({ batch, T, heads, headDim }) => ({ batch, T, heads, headDim }),
    key: (s) => `${s.batch}x${s.T}x${s.heads}x${s.headDim}`,
    // Images are independent: time at most enough of them for maxRows tokens.
    timed: (p, maxRows) => ({ ...p, batch: Math.max(1, Math.min(p.batch, Math.floor(maxRows / p.T))) }),
    // CPU adapters: subgroup_bcast, 6–7× faster than online_softmax on lavapipe and half its
    // compile time (BENCHMARKS.md); GPUs and head dims it cannot split: online_softmax.
    preferred: (device, p) => {
      const sg = ATTENTION_VARIANTS.subgroup_bcast;
      return isCpuAdapter(device) && unavailableReason(device, sg) === undefined && sg.inapplicable(p) === undefined ? 'subgroup_bcast' : 'online_softmax';
    },
  },
};
