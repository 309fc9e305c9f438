import type { OpDefinition } from '../definition.js';
import { isCpuAdapter, unavailableReason } from '../kernel.js';
import { randn } from '../sample.js';
import { attention, ATTENTION_VARIANTS, type AttentionShape, type AttentionVariant } from './op.js';

/** attention: fused multi-head attention over the qkv activation. */
export const ATTENTION: OpDefinition<AttentionShape, AttentionVariant, 'attention'> = {
  name: 'attention',
  variants: ATTENTION_VARIANTS,
  defaultVariant: 'online_softmax',
  // Relative L2 ≤ 1e-5 against float64. Scores are dot products of length Dh (≤ 64) and the
  // online softmax rescales by exp of differences, each within a few float32 ulps; a wrong head
  // offset, mask or rescale gives errors of order 1.
  tol: 1e-5,
  // Spread of 2 gives peaked softmaxes (scores up to ~±20), which exercises the running max.
  // A bias of spread 2 (BEiT's trained tables reach a few units) moves the scores' maxima around.
  sample: ({ batch, T, heads, headDim, bias }, r) => ({ qkv: randn(r, batch * T * 3 * heads * headDim, 2), ...(bias ? { bias: randn(r, heads * T * T, 2) } : {}) }),
  outputLength: (s) => s.batch * s.T * s.heads * s.headDim,
  dispatch: (s, variant, b, ctx) =>
    attention({ label: ctx.label, batch: s.batch, T: s.T, heads: s.heads, headDim: s.headDim, qkv: b.qkv, out: b.out, bias: s.bias ? b.bias : undefined, maxWorkgroupStorage: s.maxWorkgroupStorage ?? ctx.maxWorkgroupStorage, variant }),
  tuning: {
    per: 'shape',
    problem: ({ batch, T, heads, headDim, bias }) => ({ batch, T, heads, headDim, ...(bias ? { bias } : {}) }),
    key: (s) => `${s.batch}x${s.T}x${s.heads}x${s.headDim}${s.bias ? 'xbias' : ''}`,
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
