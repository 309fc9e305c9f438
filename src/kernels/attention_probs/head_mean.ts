/**
 * attention_probs/head_mean: the attention probabilities of every head, averaged over heads,
 * written as a matrix (the explain plan's input to attention rollout):
 *
 *   qkv [B, T, 3, H, Dh]  ->  out [B, T, T],  out[b, i, j] = (1/H) Σ_h softmax_j(q_bih · k_bjh / √Dh)
 *
 * A workgroup owns one (image, query row) and loops over the heads; its WG invocations split the
 * row's keys (invocation li takes keys li, li + WG, ...). Per head: pass 1 computes the scores of
 * its keys with a running max and sum (as the online softmax), the workgroup merges the WG
 * (max, sum) pairs in workgroup memory; pass 2 computes the scores again and adds
 * e^(s − max) / sum / H to its entries of the row. Each entry belongs to one invocation for all
 * heads, so the read-add-write into `out` needs no atomics. Scores are computed twice rather than
 * kept (a row of T floats per head would not fit workgroup memory for every T); this op runs in
 * explain mode only.
 */
export function headMeanCode(WG: number, headDim: number): string {
  const V = headDim % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = headDim / V;
  const dot = V === 4 ? 'dot(qkv[qb + c], qkv[kb + c])' : 'qkv[qb + c] * qkv[kb + c]';
  return /* wgsl */ `
struct Params {
  T: u32,
  H: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> qkv: array<${t}>;       // [B, T, 3, H, Dh]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // [B, T, T]
@group(0) @binding(2) var<uniform> params: Params;

const DV = ${DV}u; // ${t} per head row (Dh = ${headDim})
const WG = ${WG}u;
var<workgroup> wm: array<f32, WG>;
var<workgroup> wl: array<f32, WG>;

fn score(qb: u32, kb: u32) -> f32 {
  var d = 0.0;
  for (var c = 0u; c < DV; c++) { d += ${dot}; }
  return d * params.scale;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
  let i = wg.x;
  let b = wg.y;
  let row = 3u * H * DV;
  let obase = (b * T + i) * T;
  let invH = 1.0 / f32(H);
  for (var h = 0u; h < H; h++) {
    let qb = (b * T + i) * row + h * DV;
    var m = -3.0e38;
    var l = 0.0;
    for (var j = li; j < T; j += WG) {
      let s = score(qb, (b * T + j) * row + (H + h) * DV);
      let m2 = max(m, s);
      l = l * exp(m - m2) + exp(s - m2);
      m = m2;
    }
    wm[li] = m;
    wl[li] = l;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
      if (li < stride) {
        let ma = wm[li];
        let mb = wm[li + stride];
        let mm = max(ma, mb);
        wl[li] = wl[li] * exp(ma - mm) + wl[li + stride] * exp(mb - mm);
        wm[li] = mm;
      }
      workgroupBarrier();
    }
    let M = wm[0];
    let w = invH / wl[0];
    workgroupBarrier(); // everyone has read wm[0], wl[0] before the next head overwrites them
    for (var j = li; j < T; j += WG) {
      let p = exp(score(qb, (b * T + j) * row + (H + h) * DV) - M) * w;
      out[obase + j] = select(out[obase + j], 0.0, h == 0u) + p;
    }
  }
}
`;
}
