import { attentionIoWgsl, kvTileLoadWgsl, tileScoresWgsl, type AttentionCodeParams } from './io.js';

/**
 * attention/online_softmax (and online_softmax_q32): softmax(q·kᵀ·scale)·v for every head in one
 * kernel, flash-attention style. A workgroup takes one (image, head, block of BQ queries); each
 * invocation owns one query, holding it (pre-scaled) and its output accumulator in registers.
 * Keys and values stream through workgroup memory in tiles of BKV; each tile updates a running max
 * m and running sum l (acc ← acc·e^(m−m') + Σ e^(s−m')·v), so the T×T score matrix is never
 * written anywhere. Heads are read straight out of the fused QKV activation:
 *
 *   qkv [B, T, 3, H, Dh] (the qkv matmul's output, columns q | k | v)  ->  out [B, T, H, Dh]
 *
 * Loads are vec4 along Dh when Dh % 4 == 0 (every ViT), scalar otherwise. With p.bias, BEiT's
 * relative position bias [H, T, T] is added to each score (io.ts, tileScoresWgsl).
 */
export function onlineSoftmaxCode(BQ: number, p: AttentionCodeParams): string {
  const { headDim: DH, BKV } = p;
  const V = DH % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V; // vectors per head row
  const dotExpr = V === 4 ? 'dot(q[c], Ks[j][c])' : 'q[c] * Ks[j][c]';
  const code = /* wgsl */ `
${attentionIoWgsl(t, DV, DH, p.bias)}
const BQ = ${BQ}u;   // queries per workgroup, one per invocation
const BKV = ${BKV}u; // keys/values per tile
var<workgroup> Ks: array<array<${t}, DV>, BKV>;
var<workgroup> Vs: array<array<${t}, DV>, BKV>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
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
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, BKV>;

  for (var kv0 = 0u; kv0 < T; kv0 += BKV) {
${kvTileLoadWgsl('BQ')}
    workgroupBarrier();
${tileScoresWgsl(dotExpr, '    ', p.bias)}
    let correction = exp(m - m_tile);
    l = l * correction;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction; }
    for (var j = 0u; j < n; j++) {
      let p = exp(s[j] - m_tile);
      l += p;
      for (var c = 0u; c < DV; c++) { acc[c] += p * Vs[j][c]; }
    }
    m = m_tile;
    workgroupBarrier();
  }

  if (valid) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
  }
}
`;
  return code;
}

