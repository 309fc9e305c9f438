import type { OpChecks, OpDefinition, VariantInfo } from './definition.js';
import { ceilDiv, grid1d, variantSource, type Binding, type Dispatch } from './kernel.js';
import { randn } from './sample.js';

/**
 * An elementwise activation, described once in its own folder (src/kernels/gelu/activation.ts)
 * and used twice: fused into a matmul's epilogue (fc1: `epilogue: GELU_ACTIVATION`, what the model
 * runs) and as a standalone elementwise op (`elementwiseOp`, tested and benchmarked like any op).
 */
export interface Activation {
  /** Names the WGSL functions: `NAME(x: f32) -> f32` and `NAME4(x: vec4<f32>) -> vec4<f32>`. */
  name: string;
  /** WGSL that defines both functions (and any helper they need). */
  wgsl: string;
  /** float64 reference of one element. */
  ref64(x: number): number;
  /** Floating-point operations per element, for the profiler's rates. */
  flops: number;
}

/** Applies `act` to the WGSL expression `y` of type vec4<f32> (vec4) or f32. */
export const applyActivation = (act: Activation, vec4: boolean, y: string): string => `${act.name}${vec4 ? '4' : ''}(${y})`;

const WG = 256;

/** The WGSL of `<op>/elementwise`: one element (or vec4) per invocation. */
export function elementwiseCode(act: Activation, vec4: boolean): string {
  const t = vec4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params {
  count: u32,   // elements of type ${t}
  grid_x: u32,  // workgroups along x
}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
${act.wgsl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  if (i < params.count) { out[i] = ${applyActivation(act, vec4, 'x[i]')}; }
}
`;
}

export interface ElementwiseArgs {
  label: string;
  n: number;
  x: Binding;
  out: Binding;
}

/** An elementwise problem as a definition reads it off a dispatch. */
export interface ElementwiseShape {
  n: number;
  /** Test data only: spread of the inputs (wide ones reach the functions' tails). */
  scale?: number;
}

export const ELEMENTWISE_VARIANTS = {
  elementwise: { summary: 'one element (vec4 when the length allows) per invocation' },
} satisfies Record<string, VariantInfo>;

/** out = act(x) over n values, as op `op`, variant `elementwise`. */
export function elementwise<N extends string>(op: N, act: Activation, a: ElementwiseArgs): Dispatch {
  const vec4 = a.n % 4 === 0;
  const count = vec4 ? a.n / 4 : a.n;
  const workgroups = grid1d(ceilDiv(count, WG));
  return {
    label: a.label,
    source: variantSource(op, 'elementwise', { vec4, WG }, elementwiseCode(act, vec4)),
    op: { name: op, variant: 'elementwise', shape: { n: a.n } satisfies ElementwiseShape, withVariant: () => elementwise(op, act, a) },
    bindings: { x: a.x, out: a.out },
    uniforms: { count, grid_x: workgroups[0] },
    sizes: { x: 4 * a.n, out: 4 * a.n },
    workgroups,
    flops: act.flops * a.n,
    bytes: 8 * a.n,
  };
}

/**
 * The definition of an activation's standalone op (its checks: elementwiseChecks). It carries the
 * activation, so the kernel tests also run it fused in every matmul variant.
 */
export function elementwiseOp<N extends string>(op: N, act: Activation, tol: number): OpDefinition<ElementwiseShape, 'elementwise', N> & { activation: Activation } {
  return {
    name: op,
    activation: act,
    variants: ELEMENTWISE_VARIANTS,
    defaultVariant: 'elementwise',
    tol,
    sample: ({ n, scale = 2 }, r) => ({ x: randn(r, n, scale) }),
    outputLength: (s) => s.n,
    dispatch: ({ n }, _variant, b, { label }) => elementwise(op, act, { label, n, x: b.x, out: b.out }),
  };
}

/**
 * The checks of an activation's standalone op: a vec4 length (the MLP activations of 197 tokens),
 * an odd length (scalar path) and a wide range, against `act.ref64` in float64.
 */
export function elementwiseChecks(act: Activation): OpChecks<ElementwiseShape, 'elementwise'> {
  return {
    testShapes: [
      { name: 'vec4 path, MLP activations of 197 tokens (n = 302592)', shape: { n: 197 * 1536, scale: 2 } },
      { name: 'scalar path, odd length (n = 1001)', shape: { n: 1001, scale: 3 } },
      { name: 'wide range: tails (gelu: past the erf clamp) (n = 4096)', shape: { n: 4096, scale: 8 } },
    ],
    reference: (_, x) => Float64Array.from(x.x, act.ref64),
  };
}
