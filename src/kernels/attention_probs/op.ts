import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { queryTilesCode } from './query_tiles.js';
import { WebvitError } from '../../errors.js';

/**
 * attention_probs: the head-averaged attention matrix of one layer, read out of the fused QKV
 * activation (explain mode only; the forward pass never writes an attention matrix):
 *
 *   qkv [B, T, 3, H, Dh]  ->  out [B, T, T]   (rows: queries; each row sums to 1)
 */
export interface AttentionProbsArgs {
  label: string;
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  qkv: Binding;
  out: Binding;
  /** A score bias [H, T, T] (BEiT's relative position bias), as attention's. */
  bias?: Binding;
  variant?: AttentionProbsVariant;
  /** device.limits.maxComputeWorkgroupStorageSize (16384 when omitted). */
  maxWorkgroupStorage?: number;
  /** device.limits.maxComputeWorkgroupsPerDimension (65535 by default): the grid is [⌈T / BQ⌉, B]. */
  maxWorkgroupsPerDimension?: number;
}

export interface AttentionProbsShape {
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  /** A score bias [H, T, T] is added (BEiT); absent: none. */
  bias?: boolean;
  /** Workgroup memory to plan for; the device's when omitted (tests set less). */
  maxWorkgroupStorage?: number;
}

interface ProbsVariantDef extends VariantInfo<AttentionProbsShape> {
  code(p: { headDim: number; BKV: number; bias?: boolean }): string;
  /** Queries per workgroup (the grid's x is ⌈T / BQ⌉). */
  BQ: number;
}

/**
 * attention_probs variants:
 *   query_tiles  (query_tiles.ts)  a workgroup per 64 queries, key tiles through workgroup memory
 * (A first version gave each (image, query row) a workgroup whose invocations split the keys,
 * each gathering its own key rows from global memory: 4.7× slower on lavapipe, dropped.)
 */
export const ATTENTION_PROBS_VARIANTS = {
  query_tiles: {
    summary: 'a workgroup per 64 queries of one image (one per invocation), keys of one head at a time through workgroup memory as attention/online_softmax, scores computed twice (max/sum sweep, write sweep)',
    BQ: 64,
    code: (p) => queryTilesCode(64, p),
  },
} satisfies Record<string, ProbsVariantDef>;

export type AttentionProbsVariant = keyof typeof ATTENTION_PROBS_VARIANTS;

export function attentionProbs(a: AttentionProbsArgs): Dispatch {
  const variant = a.variant ?? 'query_tiles';
  const v: ProbsVariantDef = variantOf('attention_probs', ATTENTION_PROBS_VARIANTS, variant, a.label);
  const { batch, T, heads: H, headDim: DH } = a;
  const maxDim = a.maxWorkgroupsPerDimension ?? 65535;
  const gx = ceilDiv(T, v.BQ);
  if (gx > maxDim || batch > maxDim) throw new WebvitError('BAD_ARGUMENT', `${a.label}: attention_probs/${variant} dispatches ${gx} × ${batch} workgroups; the device allows ${maxDim} per dimension`);
  // One K tile of BKV rows of Dh floats in workgroup memory (at most 32 rows).
  const BKV = Math.min(32, Math.floor((a.maxWorkgroupStorage ?? 16384) / (4 * DH)));
  if (BKV < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: head dim ${DH} needs more workgroup memory than the device's ${a.maxWorkgroupStorage} bytes`);
  const bias = a.bias ? { bias: true } : {};
  const params = { headDim: DH, BKV, ...bias };
  return {
    label: a.label,
    source: variantSource('attention_probs', variant, params, v.code(params)),
    op: { name: 'attention_probs', variant, shape: { batch, T, heads: H, headDim: DH, ...bias } satisfies AttentionProbsShape, withVariant: (other) => attentionProbs({ ...a, variant: other as AttentionProbsVariant }) },
    bindings: { qkv: a.qkv, out: a.out, ...(a.bias ? { bias: a.bias } : {}) },
    uniforms: { T, H, scale: 1 / Math.sqrt(DH) },
    sizes: { qkv: 4 * batch * T * 3 * H * DH, out: 4 * batch * T * T, ...(a.bias ? { bias: 4 * H * T * T } : {}) },
    workgroups: [gx, batch, 1],
    // scores twice (2·Dh flops each) plus exp, scale and add per (head, query, key)
    flops: batch * H * T * T * (4 * DH + 6),
    bytes: 4 * batch * T * 3 * H * DH + 4 * batch * T * T * H,
  };
}
