import { attentionIoWgsl } from './io.js';
import { WebvitError } from '../../errors.js';

/**
 * attention/subgroup_bcast: the online-softmax attention of op.ts without workgroup memory or
 * barriers. Each invocation still owns one query (held pre-scaled in registers with its output
 * accumulator), and every invocation of a workgroup walks the same keys in the same order. A key
 * (and its value) row is read from global memory by four lanes of each subgroup — lane L reads
 * the L-th quarter of the row — and handed to the other lanes with subgroupBroadcast, so a row is
 * read four times per subgroup instead of once per invocation, and nothing waits on a barrier.
 * Scores are taken KT keys at a time (one running-max correction per KT keys; the code is
 * unrolled over the KT keys). KT = 1 is what variants.ts uses: on lavapipe KT = 8 was 1.8–2.8×
 * slower (the unrolled keys' state spills) and took ~8× longer to compile (BENCHMARKS.md).
 *
 * Needs the 'subgroups' feature (any subgroup size ≥ 4, the WebGPU minimum) and a head row that
 * splits into four equal parts of vec4 (Dh % 16 == 0) or of scalars (Dh % 4 == 0).
 */
export function subgroupAttentionApplies(headDim: number): boolean {
  return headDim % 4 === 0;
}

export function subgroupAttentionCode(p: { headDim: number; BQ: number; KT: number }): string {
  const { headDim: DH, BQ, KT } = p;
  if (!subgroupAttentionApplies(DH)) throw new WebvitError('BAD_ARGUMENT', `attention/subgroup_bcast: head dim ${DH} is not a multiple of 4`);
  const V = DH % 16 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V; // elements of type t per head row
  const P = DV / 4; // elements each of the four loading lanes reads
  const parts = Array.from({ length: P }, (_, i) => i);
  const keys = Array.from({ length: KT }, (_, j) => j);
  const lanes = [0, 1, 2, 3];
  const dot = (a: string, b: string) => (V === 4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  // Loads of one key's (or value's) quarter row by lanes 0..3; other lanes keep zeros.
  const loadPart = (name: string, off: string, j: number) => /* wgsl */ `    var ${name}${j}: array<${t}, ${P}>;
    if (lane < 4u) {
      let base = (b * T + min(kv0 + ${j}u, T - 1u)) * row + head + ${off} + lane * ${P}u;
${parts.map((i) => `      ${name}${j}[${i}] = qkv[base + ${i}u];`).join('\n')}
    }`;
  const code = /* wgsl */ `enable subgroups;
${attentionIoWgsl(t, DV, DH)}

@compute @workgroup_size(${BQ})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
  let T = params.T;
  let H = params.H;
  let b = wg.z;
  let head = wg.y * DV;
  let qi = wg.x * ${BQ}u + li;
  let row = 3u * H * DV; // ${t} per token row of qkv
  // Invocations past the last token compute token T−1 again and store nothing: every invocation
  // takes part in the broadcasts.
  let qbase = (b * T + min(qi, T - 1u)) * row + head;
  var q: array<${t}, ${DV}>;
  for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
  var acc: array<${t}, ${DV}>;
  var m = -3.0e38;
  var l = 0.0;

  for (var kv0 = 0u; kv0 < T; kv0 += ${KT}u) {
${keys.map((j) => loadPart('k', 'H * DV', j)).join('\n')}
${keys
  .map(
    (j) => `    var s${j} = 0.0;
${lanes.map((L) => parts.map((i) => `    s${j} += ${dot(`q[${L * P + i}]`, `subgroupBroadcast(k${j}[${i}], ${L}u)`)};`).join('\n')).join('\n')}
    s${j} = select(-3.0e38, s${j}, kv0 + ${j}u < T);`,
  )
  .join('\n')}
    let m_new = max(m, max(${keys.map((j) => `s${j}`).reduce((a, x) => `max(${a}, ${x})`)}, -3.0e38));
    let correction = exp(m - m_new);
    l = l * correction;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction; }
${keys
  .map(
    (j) => `${loadPart('v', '2u * H * DV', j)}
    let p${j} = exp(s${j} - m_new);
    l += p${j};
${lanes.map((L) => parts.map((i) => `    acc[${L * P + i}] += p${j} * subgroupBroadcast(v${j}[${i}], ${L}u);`).join('\n')).join('\n')}`,
  )
  .join('\n')}
    m = m_new;
  }

  if (qi < T) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
  }
}
`;
  return code;
}
