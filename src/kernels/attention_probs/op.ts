import { variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { headMeanCode } from './head_mean.js';
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
  variant?: AttentionProbsVariant;
  /** device.limits.maxComputeWorkgroupsPerDimension (65535 by default): the grid is [T, B]. */
  maxWorkgroupsPerDimension?: number;
}

export interface AttentionProbsShape {
  batch: number;
  T: number;
  heads: number;
  headDim: number;
}

interface ProbsVariantDef extends VariantInfo<AttentionProbsShape> {
  code(headDim: number): string;
}

export const ATTENTION_PROBS_VARIANTS = {
  head_mean: { summary: 'a workgroup of 64 per (image, query row), looping over heads; scores computed twice (max/sum pass, write pass)', code: (headDim) => headMeanCode(64, headDim) },
} satisfies Record<string, ProbsVariantDef>;

export type AttentionProbsVariant = keyof typeof ATTENTION_PROBS_VARIANTS;

export function attentionProbs(a: AttentionProbsArgs): Dispatch {
  const variant = a.variant ?? 'head_mean';
  const v: ProbsVariantDef = variantOf('attention_probs', ATTENTION_PROBS_VARIANTS, variant, a.label);
  const { batch, T, heads: H, headDim: DH } = a;
  const maxDim = a.maxWorkgroupsPerDimension ?? 65535;
  if (T > maxDim || batch > maxDim) throw new WebvitError('BAD_ARGUMENT', `${a.label}: attention_probs dispatches T × batch = ${T} × ${batch} workgroups; the device allows ${maxDim} per dimension`);
  return {
    label: a.label,
    source: variantSource('attention_probs', variant, { headDim: DH }, v.code(DH)),
    op: { name: 'attention_probs', variant, shape: { batch, T, heads: H, headDim: DH } satisfies AttentionProbsShape, withVariant: (other) => attentionProbs({ ...a, variant: other as AttentionProbsVariant }) },
    bindings: { qkv: a.qkv, out: a.out },
    uniforms: { T, H, scale: 1 / Math.sqrt(DH) },
    sizes: { qkv: 4 * batch * T * 3 * H * DH, out: 4 * batch * T * T },
    workgroups: [T, batch, 1],
    // scores twice (2·Dh flops each) plus exp, scale and add per (head, query, key)
    flops: batch * H * T * T * (4 * DH + 6),
    bytes: 4 * batch * T * 3 * H * DH + 4 * batch * T * T * H,
  };
}
