import { ERF_GELU_WGSL } from '../wgsl_math.js';
import { ceilDiv, grid1d, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';

/** gelu/elementwise: out = 0.5·x·(1 + erf(x/√2)), vec4 when the length allows. The model fuses GELU into fc1; this stands alone for other graphs and tests. */
export interface GeluArgs {
  label: string;
  n: number;
  x: Binding;
  out: Binding;
  /** Kernel variant (GELU_VARIANTS); default 'elementwise'. */
  variant?: GeluVariant;
}

const WG = 256;

/** A gelu problem as the definition reads it off a dispatch. */
export interface GeluShape {
  n: number;
  /** Test data only: spread of the inputs (wide ones reach past the erf clamp). */
  scale?: number;
}

/** The WGSL of gelu/elementwise: one element (or vec4) per invocation. */
export function geluCode(vec4: boolean): string {
  const t = vec4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params {
  count: u32,   // elements of type ${t}
  grid_x: u32,  // workgroups along x
}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
${ERF_GELU_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  if (i < params.count) { out[i] = ${vec4 ? 'gelu4' : 'gelu'}(x[i]); }
}
`;
}

export const GELU_VARIANTS = {
  elementwise: { summary: 'one element (vec4 when the length allows) per invocation', code: geluCode },
} satisfies Record<string, VariantInfo & { code(vec4: boolean): string }>;

export type GeluVariant = keyof typeof GELU_VARIANTS;

export function gelu(a: GeluArgs): Dispatch {
  const variant = a.variant ?? 'elementwise';
  const v = variantOf('gelu', GELU_VARIANTS, variant, a.label);
  const vec4 = a.n % 4 === 0;
  const count = vec4 ? a.n / 4 : a.n;
  const workgroups = grid1d(ceilDiv(count, WG));
  return {
    label: a.label,
    source: variantSource('gelu', variant, { vec4, WG }, v.code(vec4)),
    op: { name: 'gelu', variant, shape: { n: a.n } satisfies GeluShape, withVariant: (other) => gelu({ ...a, variant: other as GeluVariant }) },
    bindings: { x: a.x, out: a.out },
    uniforms: { count, grid_x: workgroups[0] },
    sizes: { x: 4 * a.n, out: 4 * a.n },
    workgroups,
    flops: 20 * a.n,
    bytes: 8 * a.n,
  };
}
