import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { WebvitError } from '../../errors.js';

/**
 * pool/tokens: picks the image representation out of the token sequence.
 *   cls:  out[b, p, :] = x[b, p, :] for p < prefix      (class token, and DeiT's distillation token)
 *   mean: out[b, :] = mean over t = prefix..T−1 of x[b, t, :] (patch tokens only)
 */
export type Pooling = 'cls' | 'mean';

export interface PoolArgs {
  label: string;
  mode: Pooling;
  batch: number;
  T: number;
  D: number;
  /** Prefix (class/distillation) tokens at the start of each image's sequence. */
  prefix: number;
  x: Binding;
  out: Binding;
  /** Kernel variant (POOL_VARIANTS); default 'tokens'. */
  variant?: PoolVariant;
}

/** A pooling problem as the definition reads it off a dispatch. */
export interface PoolShape {
  mode: Pooling;
  batch: number;
  T: number;
  D: number;
  prefix: number;
}

const WG = 64;

/** The WGSL of pool/tokens for a mode: one output value per invocation. */
export function poolCode(mode: Pooling): string {
  const body =
    mode === 'cls'
      ? `out[i] = x[b * params.T * params.D + d];  // d runs over prefix·D: the prefix rows are contiguous`
      : `var s = 0.0;
    for (var t = params.prefix; t < params.T; t++) { s += x[(b * params.T + t) * params.D + d]; }
    out[i] = s / f32(params.T - params.prefix);`;
  return /* wgsl */ `
struct Params {
  batch: u32,
  T: u32,
  D: u32,      // hidden size
  prefix: u32,
  width: u32,  // values per output row: prefix·D for cls, D for mean
}
@group(0) @binding(0) var<storage, read> x: array<f32>;          // [batch, T, D]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [batch, width]
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.batch * params.width) { return; }
  let b = i / params.width;
  let d = i % params.width;
  ${body}
}
`;
}

export const POOL_VARIANTS = {
  tokens: { summary: 'one output value per invocation (cls: a copy; mean: a loop over the patch tokens)', code: poolCode },
} satisfies Record<string, VariantInfo & { code(mode: Pooling): string }>;

export type PoolVariant = keyof typeof POOL_VARIANTS;

export function pool(a: PoolArgs): Dispatch {
  const variant = a.variant ?? 'tokens';
  const v = variantOf('pool', POOL_VARIANTS, variant, a.label);
  if (a.mode === 'mean' && a.T <= a.prefix) throw new WebvitError('BAD_ARGUMENT', `${a.label}: mean pooling needs patch tokens, T = ${a.T} with ${a.prefix} prefix tokens`);
  if (a.mode === 'cls' && a.prefix < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: class-token pooling needs a class token`);
  // For cls the kernel copies prefix·D values per image: the prefix rows are contiguous.
  const width = a.mode === 'cls' ? a.prefix * a.D : a.D;
  return {
    label: a.label,
    source: variantSource('pool', variant, { mode: a.mode, WG }, v.code(a.mode)),
    op: { name: 'pool', variant, shape: { mode: a.mode, batch: a.batch, T: a.T, D: a.D, prefix: a.prefix } satisfies PoolShape, withVariant: (other) => pool({ ...a, variant: other as PoolVariant }) },
    bindings: { x: a.x, out: a.out },
    uniforms: { batch: a.batch, T: a.T, D: a.D, prefix: a.prefix, width },
    sizes: { x: 4 * a.batch * a.T * a.D, out: 4 * a.batch * width },
    workgroups: [ceilDiv(a.batch * width, WG), 1, 1],
    flops: a.mode === 'mean' ? a.batch * a.T * a.D : 0,
    bytes: 4 * a.batch * width * (a.mode === 'mean' ? a.T : 2),
  };
}
