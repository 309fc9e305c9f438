import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';

/**
 * attention_pool: one learned query per head attending over every token of an image, the core of
 * an attention-pooling head (SigLIP's `MultiheadAttentionPoolingHead`, timm's `global_pool='map'`):
 *
 *   out[b, h, :] = Σ_t softmax_t(q_h · k[b, t, h, :] / √Dh) · v[b, t, h, :]
 *
 * q [H·Dh] is the same for every image (the probe through the query projection: the converter
 * computes it once), kv [B, T, 2, H, Dh] the keys and values of every token (one matmul), out
 * [B, H·Dh]. One query per head makes this a reduction over T: no T×T scores exist.
 */
export interface AttentionPoolArgs {
  label: string;
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  q: Binding;
  kv: Binding;
  out: Binding;
  variant?: AttentionPoolVariant;
}

/** An attention-pooling problem as the definition reads it off a dispatch. */
export interface AttentionPoolShape {
  batch: number;
  T: number;
  heads: number;
  headDim: number;
}

const WG = 128;

/**
 * attention_pool/chunked: a workgroup per (head, image). Tokens come in chunks of WG: each
 * invocation scores one token of the chunk, the chunk's max and exp-sum are tree reductions in
 * workgroup memory, and the running max, sum and output accumulators are rescaled per chunk (the
 * online softmax of flash attention, with one query). Invocation j accumulates output elements j,
 * j + WG, … (`acc` holds ceil(Dh / WG) of them).
 */
export function attentionPoolCode(acc: number): string {
  return /* wgsl */ `
struct Params {
  T: u32,
  H: u32,
  Dh: u32,
  scale: f32,  // 1/√Dh
}
@group(0) @binding(0) var<storage, read> q: array<f32>;          // [H·Dh]
@group(0) @binding(1) var<storage, read> kv: array<f32>;         // [B, T, 2, H, Dh]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // [B, H·Dh]
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> p: array<f32, ${WG}>;    // the chunk's exp(score − running max)
var<workgroup> red: array<f32, ${WG}>;  // reductions

fn reduce(li: u32, is_max: bool) -> f32 {
  for (var o = ${WG / 2}u; o > 0u; o = o >> 1u) {
    if (li < o) { red[li] = select(red[li] + red[li + o], max(red[li], red[li + o]), is_max); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let b = wg.y;
  let T = params.T;
  let Dh = params.Dh;
  let D = params.H * Dh;
  let row = 2u * D;
  var m = -3.0e38;  // running max of the scores
  var l = 0.0;      // running sum of exp(score − m)
  var acc: array<f32, ${acc}>;
  for (var t0 = 0u; t0 < T; t0 += ${WG}u) {
    let t = t0 + li;
    var s = -3.0e38;
    if (t < T) {
      let ko = (b * T + t) * row + h * Dh;
      var d = 0.0;
      for (var c = 0u; c < Dh; c++) { d += q[h * Dh + c] * kv[ko + c]; }
      s = d * params.scale;
    }
    red[li] = s;
    workgroupBarrier();
    let m2 = max(m, reduce(li, true));
    let e = select(0.0, exp(s - m2), t < T);
    p[li] = e;
    red[li] = e;
    workgroupBarrier();
    let corr = exp(m - m2);
    l = l * corr + reduce(li, false);
    m = m2;
    let n = min(${WG}u, T - t0);
    for (var r = 0u; r < ${acc}u; r++) {
      let j = li + r * ${WG}u;
      if (j < Dh) {
        var a = acc[r] * corr;
        let vo = (b * T + t0) * row + D + h * Dh + j;
        for (var i = 0u; i < n; i++) { a += p[i] * kv[vo + i * row]; }
        acc[r] = a;
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < ${acc}u; r++) {
    let j = li + r * ${WG}u;
    if (j < Dh) { out[b * D + h * Dh + j] = acc[r] / l; }
  }
}
`;
}

export const ATTENTION_POOL_VARIANTS = {
  chunked: { summary: 'a workgroup per (head, image): tokens in chunks of 128, online softmax, tree reductions', code: attentionPoolCode },
} satisfies Record<string, VariantInfo & { code(acc: number): string }>;

export type AttentionPoolVariant = keyof typeof ATTENTION_POOL_VARIANTS;

export function attentionPool(a: AttentionPoolArgs): Dispatch {
  const variant = a.variant ?? 'chunked';
  const v = variantOf('attention_pool', ATTENTION_POOL_VARIANTS, variant, a.label);
  const D = a.heads * a.headDim;
  const acc = ceilDiv(a.headDim, WG);
  return {
    label: a.label,
    source: variantSource('attention_pool', variant, { acc, WG }, v.code(acc)),
    op: { name: 'attention_pool', variant, shape: { batch: a.batch, T: a.T, heads: a.heads, headDim: a.headDim } satisfies AttentionPoolShape, withVariant: (other) => attentionPool({ ...a, variant: other as AttentionPoolVariant }) },
    bindings: { q: a.q, kv: a.kv, out: a.out },
    uniforms: { T: a.T, H: a.heads, Dh: a.headDim, scale: 1 / Math.sqrt(a.headDim) },
    sizes: { q: 4 * D, kv: 8 * a.batch * a.T * D, out: 4 * a.batch * D },
    workgroups: [a.heads, a.batch, 1],
    flops: 4 * a.batch * a.T * D,
    bytes: 4 * (2 * a.batch * a.T * D + D + a.batch * D),
  };
}
