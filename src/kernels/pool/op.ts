import { ceilDiv, sourceKey, type Binding, type Dispatch } from '../kernel.js';

/**
 * pool/tokens: picks the image representation out of the token sequence.
 *   cls:  out[b, :] = x[b, 0, :]                      (class token)
 *   mean: out[b, :] = mean over t = 1..T−1 of x[b, t, :] (patch tokens; class token excluded)
 */
export type Pooling = 'cls' | 'mean';

export interface PoolArgs {
  label: string;
  mode: Pooling;
  batch: number;
  T: number;
  D: number;
  x: Binding;
  out: Binding;
}

const WG = 64;

export function poolSource(mode: Pooling) {
  const kernel = `pool/${mode}`;
  const body =
    mode === 'cls'
      ? `out[i] = x[b * params.T * params.D + d];`
      : `var s = 0.0;
    for (var t = 1u; t < params.T; t++) { s += x[(b * params.T + t) * params.D + d]; }
    out[i] = s / f32(params.T - 1u);`;
  const code = /* wgsl */ `
struct Params {
  batch: u32,
  T: u32,
  D: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;          // [batch, T, D]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [batch, D]
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.batch * params.D) { return; }
  let b = i / params.D;
  let d = i % params.D;
  ${body}
}
`;
  return { kernel, key: sourceKey(kernel, { WG }), code };
}

export function pool(a: PoolArgs): Dispatch {
  if (a.mode === 'mean' && a.T < 2) throw new Error(`${a.label}: mean pooling needs patch tokens, T = ${a.T}`);
  return {
    label: a.label,
    source: poolSource(a.mode),
    bindings: { x: a.x, out: a.out },
    uniforms: { batch: a.batch, T: a.T, D: a.D },
    workgroups: [ceilDiv(a.batch * a.D, WG), 1, 1],
    flops: a.mode === 'mean' ? a.batch * a.T * a.D : 0,
    bytes: 4 * a.batch * a.D * (a.mode === 'mean' ? a.T : 2),
  };
}
