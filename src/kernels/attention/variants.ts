import type { VariantInfo } from '../definition.js';
import type { AttentionCodeParams } from './io.js';
import { onlineSoftmaxCode } from './online_softmax.js';
import { subgroupAttentionApplies, subgroupAttentionCode } from './subgroup.js';
import { splitKeysAttentionCode } from './split_keys.js';

/** An attention variant: its WGSL builder and its queries per workgroup (the grid). */
export interface AttentionVariantDef extends VariantInfo<{ headDim: number; bias?: boolean }> {
  code(p: AttentionCodeParams): string;
  /** Queries per workgroup (the grid's x is ⌈T / BQ⌉). */
  BQ: number;
}

/** Why a variant cannot run a model with a score bias (BEiT): only online_softmax* add one so far. */
const NO_BIAS = 'it adds no score bias (the relative position bias of BEiT); use attention/online_softmax';

/**
 * Attention variants; all compute an online softmax (one pass over the keys, running max and sum).
 *   online_softmax      (online_softmax.ts) keys and values streamed through workgroup memory
 *   online_softmax_q32  (online_softmax.ts) the same with 32 queries per workgroup
 *   subgroup_bcast      (subgroup.ts)       no workgroup memory: rows shared by subgroupBroadcast
 *   split_keys_s4, _s8  (split_keys.ts)     each query's keys split over 4 (8) lanes, merged by subgroup shuffles (GPUs)
 */
export const ATTENTION_VARIANTS = {
  online_softmax: { summary: 'keys and values through workgroup memory, 64 queries per workgroup (default)', BQ: 64, code: (p) => onlineSoftmaxCode(64, p) },
  online_softmax_q32: {
    summary: 'as online_softmax with 32 queries per workgroup: twice the workgroups (197 tokens at batch 1: 7 instead of 4 per head), twice the K/V tile loads',
    BQ: 32,
    code: (p) => onlineSoftmaxCode(32, p),
  },
  subgroup_bcast: {
    summary: 'no workgroup memory or barriers: four lanes per subgroup read each key/value row and subgroupBroadcast it (needs subgroups, head dim % 4 == 0)',
    BQ: 32,
    // KT = 1: on lavapipe KT = 8 was 1.8–2.8× slower and took ~8× longer to compile (subgroup.ts).
    code: (p) => subgroupAttentionCode({ headDim: p.headDim, BQ: 32, KT: 1 }),
    requires: 'subgroups' as GPUFeatureName,
    minSubgroupSize: 4,
    inapplicable: ({ headDim, bias }) =>
      bias
        ? NO_BIAS
        : subgroupAttentionApplies(headDim)
          ? undefined
          : `attention/subgroup_bcast splits a head row over four lanes and needs a head dim divisible by 4 (got ${headDim}); use attention/online_softmax`,
  },
  split_keys_s4: {
    summary: "each query's keys split over 4 consecutive lanes (16 queries per 64-invocation workgroup), partial softmax states merged with subgroupShuffleXor: 4x the workgroups of online_softmax (needs subgroups of at least 4)",
    BQ: 16,
    code: (p) => splitKeysAttentionCode(4, p),
    requires: 'subgroups' as GPUFeatureName,
    minSubgroupSize: 4,
    inapplicable: ({ bias }) => (bias ? NO_BIAS : undefined),
  },
  split_keys_s8: {
    summary: 'as split_keys_s4 with 8 lanes per query (8 queries per workgroup): 8x the workgroups of online_softmax (needs subgroups of at least 8)',
    BQ: 8,
    code: (p) => splitKeysAttentionCode(8, p),
    requires: 'subgroups' as GPUFeatureName,
    minSubgroupSize: 8,
    inapplicable: ({ bias }) => (bias ? NO_BIAS : undefined),
  },
} satisfies Record<string, AttentionVariantDef>;

export type AttentionVariant = keyof typeof ATTENTION_VARIANTS;
