import { biasWgsl, tileScoresWgsl } from '../attention/io.js';

/**
 * attention_probs/query_tiles: the head-averaged attention matrix, in attention/online_softmax's
 * layout: a workgroup owns BQ queries of one image (one per
 * invocation, held pre-scaled in registers) and streams the keys of one head at a time through
 * workgroup memory in tiles of BKV, so every invocation reads the same key row at once (a
 * broadcast from workgroup memory) instead of each gathering its own row from global memory.
 * Per head, sweep 1 takes the running max and sum over all key tiles, sweep 2 computes the scores
 * again and adds e^(s − max) / sum / H to the invocation's own row of `out` (the row belongs to
 * the invocation for all heads: no atomics).
 *
 *   qkv [B, T, 3, H, Dh]  ->  out [B, T, T]
 *
 * On lavapipe (2-core VM, 2026-11, GPU timestamps, one image of ViT-S/16): 423 ms for the 12
 * layers against 1973 ms for a first version that gave each (image, query row) a workgroup whose
 * 64 invocations split the keys, each gathering its own key rows from global memory (dropped).
 * In the same run attention_explain/online_softmax, which also computes every score, took 399 ms
 * and the forward pass's attention/subgroup_bcast 230 ms.
 */
export function queryTilesCode(BQ: number, p: { headDim: number; BKV: number; bias?: boolean }): string {
  const { headDim: DH, BKV } = p;
  const V = DH % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V;
  const dotExpr = V === 4 ? 'dot(q[c], Ks[j][c])' : 'q[c] * Ks[j][c]';
  return /* wgsl */ `
struct Params {
  T: u32,
  H: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> qkv: array<${t}>;       // [B, T, 3, H, Dh]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // [B, T, T]
@group(0) @binding(2) var<uniform> params: Params;${p.bias ? biasWgsl(3) : ''}

const DV = ${DV}u; // ${t} per head row (Dh = ${DH})
const BQ = ${BQ}u;
const BKV = ${BKV}u;
var<workgroup> Ks: array<array<${t}, DV>, BKV>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
  let b = wg.y;
  let qi = wg.x * BQ + li;
  let valid = qi < T;
  let row = 3u * H * DV;
  let obase = (b * T + qi) * T;
  let invH = 1.0 / f32(H);
  var q: array<${t}, DV>;
  var s: array<f32, BKV>;
  for (var h = 0u; h < H; h++) {
    let head = h * DV;
    if (valid) {
      let qbase = (b * T + qi) * row + head;
      for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
    }
    var m = -3.0e38;
    var l = 0.0;
    for (var sweep = 0u; sweep < 2u; sweep++) {
      let w = invH / l; // used in the second sweep only
      for (var kv0 = 0u; kv0 < T; kv0 += BKV) {
        for (var i = li; i < BKV * DV; i += BQ) {
          let j = i / DV;
          let key = kv0 + j;
          if (key < T) { Ks[j][i % DV] = qkv[(b * T + key) * row + H * DV + head + i % DV]; }
        }
        workgroupBarrier();
${tileScoresWgsl(dotExpr, '        ', p.bias)}
        if (sweep == 0u) {
          var sum = 0.0;
          for (var j = 0u; j < n; j++) { sum += exp(s[j] - m_tile); }
          l = l * exp(m - m_tile) + sum;
          m = m_tile;
        } else if (valid) {
          for (var j = 0u; j < n; j++) {
            let o = obase + kv0 + j;
            out[o] = select(out[o], 0.0, h == 0u) + exp(s[j] - m) * w;
          }
        }
        workgroupBarrier();
      }
    }
  }
}
`;
}
