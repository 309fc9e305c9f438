import { biasWgsl, kvTileLoadWgsl, tileScoresWgsl } from '../attention/io.js';
/**
 * attention_explain/online_softmax: attention/online_softmax (src/kernels/attention/online_softmax.ts)
 * plus, per query, the softmax-weighted mean pixel distance to the patch keys — accumulated in the
 * same single pass over the keys, so the T×T attention matrix is never written anywhere.
 *
 * What changes against attention/online_softmax (everything else is the same code):
 *   - a third accumulator per query, `dacc` = Σ_j e^(s_j − m)·‖c_q − c_j‖ over the PATCH keys j
 *     (prefix keys — class, distillation token — add nothing: distance 0 by definition), in grid
 *     units, rescaled by e^(m − m') at each tile exactly like the value accumulator `acc` and the
 *     running sum `l`;
 *   - at the end, patch query n writes dist[b, h, n] = dacc / l · patchSize (pixels). Dividing by
 *     l (the softmax denominator over ALL T keys) makes it Σ_j A[q, j]·d(q, j) with the model's
 *     own softmax weights, not renormalised over patches (docs/explain.md, "Mean attention distance").
 *
 *   qkv [B, T, 3, H, Dh]  ->  out [B, T, H, Dh] (the attention output, as attention/online_softmax)
 *                             dist [B, H, N]    (N = G² patch queries; prefix queries write nothing)
 *
 * Token t ≥ P is patch n = t − P at grid row n / G, column n % G; centres are p pixels apart.
 */
export function onlineSoftmaxDistanceCode(BQ: number, p: { headDim: number; BKV: number; bias?: boolean }): string {
  const { headDim: DH, BKV } = p;
  const V = DH % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V; // vectors per head row
  const dotExpr = V === 4 ? 'dot(q[c], Ks[j][c])' : 'q[c] * Ks[j][c]';
  return /* wgsl */ `
${explainIoWgsl(t, DV, DH, p.bias)}
const BQ = ${BQ}u;   // queries per workgroup, one per invocation
const BKV = ${BKV}u; // keys/values per tile
var<workgroup> Ks: array<array<${t}, DV>, BKV>;
var<workgroup> Vs: array<array<${t}, DV>, BKV>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
  let P = params.prefix;
  let G = params.grid;
  let b = wg.z;
  let h = wg.y;
  let qi = wg.x * BQ + li;
  let valid = qi < T;
  let row = 3u * H * DV;                  // ${t} per token row of qkv
  let head = h * DV;

  var q: array<${t}, DV>;
  var acc: array<${t}, DV>;
  if (valid) {
    let qbase = (b * T + qi) * row + head;
    for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
  }
  // This query's grid position (prefix queries: patch 0's, computed but never written).
  let qn = select(0u, qi - P, qi >= P);
  let qr = f32(qn / G);
  let qc = f32(qn % G);
  var m = -3.0e38;
  var l = 0.0;
  var dacc = 0.0;
  var s: array<f32, BKV>;

  for (var kv0 = 0u; kv0 < T; kv0 += BKV) {
${kvTileLoadWgsl('BQ')}
    workgroupBarrier();
${tileScoresWgsl(dotExpr, '    ', p.bias)}
    let correction = exp(m - m_tile);
    l = l * correction;
    dacc = dacc * correction;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction; }
    for (var j = 0u; j < n; j++) {
      let p = exp(s[j] - m_tile);
      l += p;
      for (var c = 0u; c < DV; c++) { acc[c] += p * Vs[j][c]; }
      let key = kv0 + j;
      if (key >= P) {
        let kn = key - P;
        let dr = qr - f32(kn / G);
        let dc = qc - f32(kn % G);
        dacc += p * sqrt(dr * dr + dc * dc);
      }
    }
    m = m_tile;
    workgroupBarrier();
  }

  if (valid) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
    if (qi >= P) { dist[(b * H + h) * G * G + qn] = dacc * inv * params.patch_px; }
  }
}
`;
}

/** What both attention_explain variants' WGSL starts with: uniforms, qkv, the attention output and the distances (and a score bias: BEiT). */
export function explainIoWgsl(t: string, DV: number, DH: number, bias?: boolean): string {
  return /* wgsl */ `struct Params {
  T: u32,
  H: u32,
  scale: f32,
  prefix: u32,    // P: class (and distillation) tokens before the patches
  grid: u32,      // G: patches per side (N = G² patch tokens)
  patch_px: f32,  // patch size in pixels (distance between neighbouring patch centres)
}

@group(0) @binding(0) var<storage, read> qkv: array<${t}>;       // [B, T, 3, H, Dh]
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;  // [B, T, H, Dh]
@group(0) @binding(2) var<storage, read_write> dist: array<f32>;  // [B, H, N]
@group(0) @binding(3) var<uniform> params: Params;${bias ? biasWgsl(4) : ''}

const DV = ${DV}u; // ${t} per head row (Dh = ${DH})`;
}
