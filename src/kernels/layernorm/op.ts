import { grid1d, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf } from '../definition.js';
import { LAYERNORM_VARIANTS, type LayerNormVariant, type LayerNormVariantDef } from './variants.js';
import { WebvitError } from '../../errors.js';

export { LAYERNORM_VARIANTS, type LayerNormVariant };

/** layernorm: out[r, :] = (x[r, :] − mean) / sqrt(var + eps) · gamma + beta, one workgroup per row (two_pass.ts). */
export interface LayerNormArgs {
  label: string;
  rows: number;
  D: number;
  eps: number;
  x: Binding;
  gamma: Binding;
  beta: Binding;
  out: Binding;
  /** Kernel variant (LAYERNORM_VARIANTS); default 'workgroup_row'. */
  variant?: LayerNormVariant;
}

/** A layernorm problem as the definition, the tuner and the benchmark read it off a dispatch. */
export interface LayerNormShape {
  rows: number;
  D: number;
  eps: number;
  /** Test data only: the rows' mean and spread (large mean, tiny spread tests the two-pass statistics). */
  mean?: number;
  spread?: number;
}

export function layerNorm(a: LayerNormArgs): Dispatch {
  if (!(a.eps > 0)) throw new WebvitError('BAD_ARGUMENT', `${a.label}: layernorm eps must be positive, got ${a.eps}`);
  const variant = a.variant ?? 'workgroup_row';
  const v: LayerNormVariantDef = variantOf('layernorm', LAYERNORM_VARIANTS, variant, a.label);
  const workgroups = grid1d(a.rows);
  return {
    label: a.label,
    source: variantSource('layernorm', variant, {}, v.code()),
    op: { name: 'layernorm', variant, shape: { rows: a.rows, D: a.D, eps: a.eps } satisfies LayerNormShape, withVariant: (other) => layerNorm({ ...a, variant: other as LayerNormVariant }) },
    bindings: { x: a.x, gamma: a.gamma, beta: a.beta, out: a.out },
    uniforms: { rows: a.rows, D: a.D, eps: a.eps, grid_x: workgroups[0] },
    sizes: { x: 4 * a.rows * a.D, out: 4 * a.rows * a.D, gamma: 4 * a.D, beta: 4 * a.D },
    workgroups,
    flops: 8 * a.rows * a.D,
    bytes: 4 * (2 * a.rows * a.D + 2 * a.D),
  };
}
