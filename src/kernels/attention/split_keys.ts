import { attentionIoWgsl, kvTileLoadWgsl, type AttentionCodeParams } from './io.js';

/**
 * attention/split_keys_*: the online-softmax attention with each query's keys split over S
 * invocations, for GPUs. online_softmax gives a query to one invocation, which walks all T keys
 * alone: at batch 1 ViT-B makes 12 heads × 4 blocks of 64 queries = 48 workgroups for a GPU of
 * 100+ multiprocessors, and ViT-Ti (3 heads) 12 (BENCHMARKS.md, "NVIDIA H200": attention at
 * 1.3 TFLOP/s, 42 % of ViT-Ti's batch-1 GPU time). Here a workgroup of 64 invocations takes BQ =
 * 64 / S queries; invocation (query i, part r) scores the keys j ≡ r (mod S) of each K/V tile
 * (tiles shared by the workgroup's queries through workgroup memory, as in online_softmax) and
 * keeps its own running max m, sum l and accumulator. At the end the S partial states of a query
 * are merged (flash-decoding style): M = max of the m's, each part rescales its l and accumulator
 * by e^(m − M), and l and the accumulators are summed, with subgroupShuffleXor across the S
 * consecutive lanes of the query. S times the workgroups of online_softmax for the same T, and a
 * serial chain of T / S keys per invocation instead of T.
 *
 * Needs subgroups of at least S invocations (the S lanes of a query share one subgroup:
 * invocations of a one-dimensional workgroup fill subgroups in order).
 */
export function splitKeysAttentionCode(S: number, p: AttentionCodeParams): string {
  const { headDim: DH, BKV } = p;
  const WG = 64;
  const BQ = WG / S;
  const V = DH % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V;
  const dotExpr = V === 4 ? 'dot(q[c], Ks[j][c])' : 'q[c] * Ks[j][c]';
  const merge = Array.from({ length: Math.log2(S) }, (_, i) => 1 << i);
  return /* wgsl */ `enable subgroups;
${attentionIoWgsl(t, DV, DH)}
const S = ${S}u;     // invocations per query, consecutive lanes of one subgroup
const BQ = ${BQ}u;   // queries per workgroup
const BKV = ${BKV}u; // keys/values per tile
var<workgroup> Ks: array<array<${t}, DV>, BKV>;
var<workgroup> Vs: array<array<${t}, DV>, BKV>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
  let b = wg.z;
  let h = wg.y;
  let part = li % S;
  let qi = wg.x * BQ + li / S;
  let valid = qi < T;
  let row = 3u * H * DV;
  let head = h * DV;

  var q: array<${t}, DV>;
  var acc: array<${t}, DV>;
  if (valid) {
    let qbase = (b * T + qi) * row + head;
    for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
  }
  var m = -3.0e38;
  var l = 0.0;

  for (var kv0 = 0u; kv0 < T; kv0 += BKV) {
${kvTileLoadWgsl(`${WG}u`)}
    workgroupBarrier();
    let n = min(BKV, T - kv0);
    for (var j = part; j < n; j += S) {
      var d = 0.0;
      for (var c = 0u; c < DV; c++) { d += ${dotExpr}; }
      let m2 = max(m, d);
      let correction = exp(m - m2);
      let pj = exp(d - m2);
      l = l * correction + pj;
      for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction + pj * Vs[j][c]; }
      m = m2;
    }
    workgroupBarrier();
  }

  // Merge the S parts of this query (every lane takes part: subgroup operations in uniform control flow).
  var mAll = m;
${merge.map((o) => `  mAll = max(mAll, subgroupShuffleXor(mAll, ${o}u));`).join('\n')}
  let f = exp(m - mAll); // 0 for a part that saw no key (m still −3e38)
  var lAll = l * f;
  for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * f; }
${merge.map((o) => `  lAll += subgroupShuffleXor(lAll, ${o}u);\n  for (var c = 0u; c < DV; c++) { acc[c] += subgroupShuffleXor(acc[c], ${o}u); }`).join('\n')}
  if (valid && part == 0u) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / lAll;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
  }
}
`;
}
