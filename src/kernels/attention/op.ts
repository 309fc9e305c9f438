import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf } from '../definition.js';
import { ATTENTION_VARIANTS, type AttentionVariant, type AttentionVariantDef } from './variants.js';
import { WebvitError } from '../../errors.js';

export { ATTENTION_VARIANTS, type AttentionVariant };

/**
 * attention: softmax(q·kᵀ/√Dh)·v for every head, read straight out of the fused QKV activation:
 *
 *   qkv [B, T, 3, H, Dh] (the qkv matmul's output, columns q | k | v)  ->  out [B, T, H, Dh]
 *
 * Validates, picks the variant's WGSL builder by name (variants.ts) and states the dispatch.
 */
export interface AttentionArgs {
  label: string;
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  qkv: Binding;
  out: Binding;
  /** A score bias [H, T, T] added before the softmax (BEiT's relative position bias). */
  bias?: Binding;
  /** Workgroup memory the device allows (device.limits.maxComputeWorkgroupStorageSize). */
  maxWorkgroupStorage: number;
  /** Kernel variant (ATTENTION_VARIANTS); default 'online_softmax'. */
  variant?: AttentionVariant;
}

/** An attention problem as the definition, the tuner and the benchmark read it off a dispatch. */
export interface AttentionShape {
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  /** A score bias [H, T, T] is added (BEiT); absent: none. */
  bias?: boolean;
  /** Workgroup memory to plan for; the device's when omitted (tests set less). */
  maxWorkgroupStorage?: number;
}

export function attention(a: AttentionArgs): Dispatch {
  const variant = a.variant ?? 'online_softmax';
  const v: AttentionVariantDef = variantOf('attention', ATTENTION_VARIANTS, variant, a.label);
  // Two K/V tiles of BKV rows of Dh floats must fit in workgroup memory.
  const BKV = Math.min(32, Math.floor(a.maxWorkgroupStorage / (2 * 4 * a.headDim)));
  if (BKV < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: head dim ${a.headDim} needs more workgroup memory than the device's ${a.maxWorkgroupStorage} bytes`);
  const { batch, T, heads: H, headDim: DH } = a;
  // Written only when there is one, so a model without a bias has the same shapes, keys and WGSL as before.
  const bias = a.bias ? { bias: true } : {};
  const why = v.inapplicable?.({ headDim: DH, ...bias });
  if (why) throw new WebvitError('BAD_ARGUMENT', `${a.label}: ${why}`);
  const params = { headDim: DH, BKV, ...bias };
  return {
    label: a.label,
    source: variantSource('attention', variant, params, v.code(params)),
    op: { name: 'attention', variant, shape: { batch, T, heads: H, headDim: DH, ...bias } satisfies AttentionShape, withVariant: (other) => attention({ ...a, variant: other as AttentionVariant }) },
    bindings: { qkv: a.qkv, out: a.out, ...(a.bias ? { bias: a.bias } : {}) },
    uniforms: { T, H, scale: 1 / Math.sqrt(DH) },
    sizes: { qkv: 4 * batch * T * 3 * H * DH, out: 4 * batch * T * H * DH, ...(a.bias ? { bias: 4 * H * T * T } : {}) },
    workgroups: [ceilDiv(T, v.BQ), H, batch],
    flops: 4 * batch * H * T * T * DH,
    bytes: 4 * batch * T * H * DH * (3 + 1),
  };
}
