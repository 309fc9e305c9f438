import { ceilDiv, sourceKey, type Binding, type Dispatch } from '../kernel.js';
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
}

const WG = 64;

export function poolSource(mode: Pooling) {
  const kernel = `pool/${mode}`;
  const body =
    mode === 'cls'
      ? `out[i] = x[b * params.T * params.D + d];  // d runs over prefix·D: the prefix rows are contiguous`
      : `var s = 0.0;
    for (var t = params.prefix; t < params.T; t++) { s += x[(b * params.T + t) * params.D + d]; }
    out[i] = s / f32(params.T - params.prefix);`;
  const code = /* wgsl */ `
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
  return { kernel, key: sourceKey(kernel, { WG }), code };
}

export function pool(a: PoolArgs): Dispatch {
  if (a.mode === 'mean' && a.T <= a.prefix) throw new WebvitError('BAD_ARGUMENT', `${a.label}: mean pooling needs patch tokens, T = ${a.T} with ${a.prefix} prefix tokens`);
  if (a.mode === 'cls' && a.prefix < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: class-token pooling needs a class token`);
  // For cls the kernel copies prefix·D values per image: the prefix rows are contiguous.
  const width = a.mode === 'cls' ? a.prefix * a.D : a.D;
  return {
    label: a.label,
    source: poolSource(a.mode),
    bindings: { x: a.x, out: a.out },
    uniforms: { batch: a.batch, T: a.T, D: a.D, prefix: a.prefix, width },
    sizes: { x: 4 * a.batch * a.T * a.D, out: 4 * a.batch * width },
    workgroups: [ceilDiv(a.batch * width, WG), 1, 1],
    flops: a.mode === 'mean' ? a.batch * a.T * a.D : 0,
    bytes: 4 * a.batch * width * (a.mode === 'mean' ? a.T : 2),
  };
}
