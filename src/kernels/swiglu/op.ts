import { ceilDiv, grid1d, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';

/**
 * swiglu: the gate of a SwiGLU MLP (DINOv2's giant sizes, transformers' Dinov2SwiGLUFFN), between
 * fc1 (D -> 2H, the two halves side by side) and fc2 (H -> D):
 *
 *   x [rows, 2H] = [x1 | x2]  ->  out [rows, H] = silu(x1) · x2,   silu(v) = v · sigmoid(v)
 *
 * x1 is each row's first H values, x2 its last H, as `weights_in(x).chunk(2, dim=-1)` splits them.
 */
export interface SwigluArgs {
  label: string;
  rows: number;
  /** Width of the output: half of x's row. */
  H: number;
  x: Binding;
  out: Binding;
  variant?: SwigluVariant;
}

/** A swiglu problem as the definition reads it off a dispatch. */
export interface SwigluShape {
  rows: number;
  H: number;
  /** Test data only: spread of the inputs (wide ones reach silu's tails). */
  scale?: number;
}

const WG = 256;

/**
 * swiglu/elementwise: one output (a vec4 of them when H % 4 == 0) per invocation. silu's exponent
 * is clamped at 80 (exp would overflow float32 at 88.7), and silu(v) is 0 below v = −80, where it
 * is under 1e-33 in magnitude: the clamp alone would leave v·e^−80, which x2 can make large when
 * the activations are already out of range.
 */
export function swigluCode(vec4: boolean): string {
  const t = vec4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params {
  count: u32,   // outputs of type ${t}: rows · H${vec4 ? ' / 4' : ''}
  width: u32,   // outputs of type ${t} per row: H${vec4 ? ' / 4' : ''}
  grid_x: u32,  // workgroups along x
}
@group(0) @binding(0) var<storage, read> x: array<${t}>;         // [rows, 2H]: x1 then x2
@group(0) @binding(1) var<storage, read_write> out: array<${t}>; // [rows, H]
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  if (i >= params.count) { return; }
  let row = i / params.width;
  let a = x[i + row * params.width];  // x1[row, j]: row 2·width apart, so i + row·width
  let b = x[i + (row + 1u) * params.width];          // x2[row, j], width further on
  out[i] = select(a / (${t}(1.0) + exp(min(-a, ${t}(80.0)))), ${t}(0.0), a < ${t}(-80.0)) * b;
}
`;
}

export const SWIGLU_VARIANTS = {
  elementwise: { summary: 'one output (vec4 when H allows) per invocation, silu(x1)·x2 read from the two halves of the row' },
} satisfies Record<string, VariantInfo>;

export type SwigluVariant = keyof typeof SWIGLU_VARIANTS;

export function swiglu(a: SwigluArgs): Dispatch {
  const variant = a.variant ?? 'elementwise';
  variantOf('swiglu', SWIGLU_VARIANTS, variant, a.label);
  const vec4 = a.H % 4 === 0;
  const width = vec4 ? a.H / 4 : a.H;
  const count = a.rows * width;
  const workgroups = grid1d(ceilDiv(count, WG));
  const n = a.rows * a.H;
  return {
    label: a.label,
    source: variantSource('swiglu', variant, { vec4, WG }, swigluCode(vec4)),
    op: { name: 'swiglu', variant, shape: { rows: a.rows, H: a.H } satisfies SwigluShape, withVariant: (other) => swiglu({ ...a, variant: other as SwigluVariant }) },
    bindings: { x: a.x, out: a.out },
    uniforms: { count, width, grid_x: workgroups[0] },
    sizes: { x: 8 * n, out: 4 * n },
    workgroups,
    flops: 6 * n,
    bytes: 12 * n,
  };
}
