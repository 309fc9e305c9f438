import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { onlineSoftmaxDistanceCode } from './online_softmax_distance.js';
import { subgroupDistanceCode } from './subgroup_distance.js';
import { WebvitError } from '../../errors.js';

/**
 * attention_explain: the attention op's output (softmax(q·kᵀ/√Dh)·v per head, as attention/*)
 * and, in the same pass, each patch query's mean attention distance in pixels per head:
 *
 *   qkv [B, T, 3, H, Dh]  ->  out [B, T, H, Dh],  dist [B, H, N]   (T = P + N, N = G²)
 *
 * Only the explain plan (src/model/explain.ts) dispatches it, in place of each block's attention;
 * the default forward pass never does.
 */
export interface AttentionExplainArgs {
  label: string;
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  /** Class/distillation tokens before the patches (0, 1 or 2). */
  prefix: number;
  /** Patches per side, G (T = prefix + G²). */
  grid: number;
  /** Pixels per patch side: distances come out in pixels. */
  patchSize: number;
  qkv: Binding;
  out: Binding;
  dist: Binding;
  /** A score bias [H, T, T] (BEiT's relative position bias), as attention's. */
  bias?: Binding;
  /** device.limits.maxComputeWorkgroupStorageSize */
  maxWorkgroupStorage: number;
  variant?: AttentionExplainVariant;
}

export interface AttentionExplainShape {
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  prefix: number;
  grid: number;
  patchSize: number;
  /** A score bias [H, T, T] is added (BEiT); absent: none. */
  bias?: boolean;
  /** Workgroup memory to plan for; the device's when omitted (tests set less). */
  maxWorkgroupStorage?: number;
}

interface ExplainVariantDef extends VariantInfo<AttentionExplainShape> {
  BQ: number;
  code(p: { headDim: number; BKV: number; bias?: boolean }): string;
}

/**
 * attention_explain variants, each an attention/* variant of the same name plus the distance
 * accumulator (so the explain plan can run the kind of attention the forward plan runs):
 *   online_softmax  (online_softmax_distance.ts)  K/V tiles through workgroup memory
 *   subgroup_bcast  (subgroup_distance.ts)        no workgroup memory: rows shared by subgroupBroadcast
 */
export const ATTENTION_EXPLAIN_VARIANTS = {
  online_softmax: { summary: 'attention/online_softmax (64 queries per workgroup, K/V tiles in workgroup memory) with a distance accumulator rescaled like the value accumulator', BQ: 64, code: (p) => onlineSoftmaxDistanceCode(64, p) },
  subgroup_bcast: {
    summary: 'attention/subgroup_bcast (no workgroup memory: four lanes per subgroup read each key/value row and subgroupBroadcast it) with the distance accumulator (needs subgroups, head dim % 4 == 0)',
    BQ: 32,
    code: (p) => subgroupDistanceCode({ headDim: p.headDim, BQ: 32 }),
    requires: 'subgroups' as GPUFeatureName,
    minSubgroupSize: 4,
    inapplicable: ({ headDim, bias }) =>
      bias ? 'it adds no score bias (the relative position bias of BEiT); use attention_explain/online_softmax' : headDim % 4 === 0 ? undefined : `attention_explain/subgroup_bcast splits a head row over four lanes and needs a head dim divisible by 4 (got ${headDim}); use attention_explain/online_softmax`,
  },
} satisfies Record<string, ExplainVariantDef>;

export type AttentionExplainVariant = keyof typeof ATTENTION_EXPLAIN_VARIANTS;

export function attentionExplain(a: AttentionExplainArgs): Dispatch {
  const variant = a.variant ?? 'online_softmax';
  const v: ExplainVariantDef = variantOf('attention_explain', ATTENTION_EXPLAIN_VARIANTS, variant, a.label);
  const { batch, T, heads: H, headDim: DH, prefix: P, grid: G } = a;
  if (!(Number.isInteger(G) && G >= 1 && Number.isInteger(P) && P >= 0 && T === P + G * G)) {
    throw new WebvitError('BAD_ARGUMENT', `${a.label}: attention_explain needs T = prefix + grid², got T ${T}, prefix ${P}, grid ${G}`);
  }
  if (!(a.patchSize > 0)) throw new WebvitError('BAD_ARGUMENT', `${a.label}: attention_explain needs a positive patch size, got ${a.patchSize}`);
  // Two K/V tiles of BKV rows of Dh floats must fit in workgroup memory (as attention/online_softmax).
  const bias = a.bias ? { bias: true } : {};
  const why = v.inapplicable?.({ batch, T, heads: H, headDim: DH, prefix: P, grid: G, patchSize: a.patchSize, ...bias });
  if (why) throw new WebvitError('BAD_ARGUMENT', `${a.label}: ${why}`);
  const BKV = Math.min(32, Math.floor(a.maxWorkgroupStorage / (2 * 4 * DH)));
  if (BKV < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: head dim ${DH} needs more workgroup memory than the device's ${a.maxWorkgroupStorage} bytes`);
  const params = { headDim: DH, BKV, ...bias };
  const N = G * G;
  return {
    label: a.label,
    source: variantSource('attention_explain', variant, params, v.code(params)),
    op: {
      name: 'attention_explain',
      variant,
      shape: { batch, T, heads: H, headDim: DH, prefix: P, grid: G, patchSize: a.patchSize, ...bias } satisfies AttentionExplainShape,
      withVariant: (other) => attentionExplain({ ...a, variant: other as AttentionExplainVariant }),
    },
    bindings: { qkv: a.qkv, out: a.out, dist: a.dist, ...(a.bias ? { bias: a.bias } : {}) },
    uniforms: { T, H, scale: 1 / Math.sqrt(DH), prefix: P, grid: G, patch_px: a.patchSize },
    sizes: { qkv: 4 * batch * T * 3 * H * DH, out: 4 * batch * T * H * DH, dist: 4 * batch * H * N, ...(a.bias ? { bias: 4 * H * T * T } : {}) },
    workgroups: [ceilDiv(T, v.BQ), H, batch],
    // attention's 4·B·H·T²·Dh, plus a distance (≈ 6 flops + sqrt) per query and patch key
    flops: 4 * batch * H * T * T * DH + 8 * batch * H * T * N,
    bytes: 4 * batch * T * H * DH * (3 + 1) + 4 * batch * H * N,
  };
}
