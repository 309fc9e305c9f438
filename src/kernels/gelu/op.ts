import { ERF_GELU_WGSL } from '../wgsl_math.js';
import { ceilDiv, grid1d, sourceKey, type Binding, type Dispatch } from '../kernel.js';

/** gelu/elementwise: out = 0.5·x·(1 + erf(x/√2)), vec4 when the length allows. The model fuses GELU into fc1; this stands alone for other graphs and tests. */
export interface GeluArgs {
  label: string;
  n: number;
  x: Binding;
  out: Binding;
}

const WG = 256;

export function geluSource(vec4: boolean) {
  const kernel = 'gelu/elementwise';
  const t = vec4 ? 'vec4<f32>' : 'f32';
  const code = /* wgsl */ `
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
  return { kernel, key: sourceKey(kernel, { vec4, WG }), code };
}

export function gelu(a: GeluArgs): Dispatch {
  const vec4 = a.n % 4 === 0;
  const count = vec4 ? a.n / 4 : a.n;
  const workgroups = grid1d(ceilDiv(count, WG));
  return {
    label: a.label,
    source: geluSource(vec4),
    bindings: { x: a.x, out: a.out },
    uniforms: { count, grid_x: workgroups[0] },
    sizes: { x: 4 * a.n, out: 4 * a.n },
    workgroups,
    flops: 20 * a.n,
    bytes: 8 * a.n,
  };
}
