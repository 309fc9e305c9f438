import { WebvitError } from '../../errors.js';
import { explainIoWgsl } from './online_softmax_distance.js';

/**
 * attention_explain/subgroup_bcast: attention/subgroup_bcast (src/kernels/attention/subgroup.ts,
 * with its KT = 1: one key per step) plus the distance accumulator of online_softmax_distance.ts.
 * No workgroup memory or barriers: each invocation owns one query; a key (and value) row is read
 * by four lanes of each subgroup, a quarter each, and handed to the others with
 * subgroupBroadcast. Per key: new max m', correction e^(m − m'), then l, the value accumulator
 * and the distance accumulator are all rescaled by it and the key's e^(s − m') added (its
 * distance to the query's patch centre for patch keys, nothing for prefix keys).
 *
 * Needs 'subgroups' and a head dim divisible by 4 (a head row split into four equal parts), as
 * attention/subgroup_bcast. It exists so that the explain plan runs the same kind of attention
 * kernel as the forward plan on CPU adapters, where subgroup_bcast is the default (6–7× faster
 * than online_softmax on lavapipe, BENCHMARKS.md).
 */
export function subgroupDistanceCode(p: { headDim: number; BQ: number }): string {
  const { headDim: DH, BQ } = p;
  if (DH % 4 !== 0) throw new WebvitError('BAD_ARGUMENT', `attention_explain/subgroup_bcast: head dim ${DH} is not a multiple of 4`);
  const V = DH % 16 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V; // elements of type t per head row
  const P = DV / 4; // elements each of the four loading lanes reads
  const parts = Array.from({ length: P }, (_, i) => i);
  const lanes = [0, 1, 2, 3];
  const dot = (a: string, b: string) => (V === 4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  // One key's (or value's) quarter row, loaded by lanes 0..3; other lanes keep zeros.
  const loadPart = (name: string, off: string) => /* wgsl */ `    var ${name}: array<${t}, ${P}>;
    if (lane < 4u) {
      let base = (b * T + kv) * row + head + ${off} + lane * ${P}u;
${parts.map((i) => `      ${name}[${i}] = qkv[base + ${i}u];`).join('\n')}
    }`;
  return /* wgsl */ `enable subgroups;
${explainIoWgsl(t, DV, DH)}

@compute @workgroup_size(${BQ})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
  let T = params.T;
  let H = params.H;
  let P = params.prefix;
  let G = params.grid;
  let b = wg.z;
  let h = wg.y;
  let head = h * DV;
  let qi = wg.x * ${BQ}u + li;
  let row = 3u * H * DV; // ${t} per token row of qkv
  // Invocations past the last token compute token T−1 again and store nothing: every invocation
  // takes part in the broadcasts.
  let qt = min(qi, T - 1u);
  let qbase = (b * T + qt) * row + head;
  var q: array<${t}, ${DV}>;
  for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
  var acc: array<${t}, ${DV}>;
  var m = -3.0e38;
  var l = 0.0;
  var dacc = 0.0;
  let qn = select(0u, qt - P, qt >= P);
  let qr = f32(qn / G);
  let qc = f32(qn % G);

  for (var kv = 0u; kv < T; kv++) {
${loadPart('k', 'H * DV')}
    var s = 0.0;
${lanes.map((L) => parts.map((i) => `    s += ${dot(`q[${L * P + i}]`, `subgroupBroadcast(k[${i}], ${L}u)`)};`).join('\n')).join('\n')}
    let m_new = max(m, s);
    let correction = exp(m - m_new);
    l = l * correction;
    dacc = dacc * correction;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction; }
${loadPart('v', '2u * H * DV')}
    let p = exp(s - m_new);
    l += p;
${lanes.map((L) => parts.map((i) => `    acc[${L * P + i}] += p * subgroupBroadcast(v[${i}], ${L}u);`).join('\n')).join('\n')}
    if (kv >= P) {
      let kn = kv - P;
      let dr = qr - f32(kn / G);
      let dc = qc - f32(kn % G);
      dacc += p * sqrt(dr * dr + dc * dc);
    }
    m = m_new;
  }

  if (qi < T) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
    if (qi >= P) { dist[(b * H + h) * G * G + qn] = dacc * inv * params.patch_px; }
  }
}
`;
}
