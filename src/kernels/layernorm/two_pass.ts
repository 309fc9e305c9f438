/**
 * layernorm's WGSL: one workgroup per row, two passes over the row held in L1/L2.
 *
 * Numerically robust for rows with a large mean and a small spread (activations of 1000 ± 0.01):
 * values are first shifted by the row's first element (x − x₀ is exact in float32 when the two
 * are within a factor of two — Sterbenz), the mean of the shifted values is taken, and the
 * variance is the mean of squared deviations from it (two-pass, never E[x²] − E[x]²). A row
 * whose sum of squared deviations overflows float32 is written as NaN (never silently as beta).
 * The variants differ only in how a workgroup sums (workgroup_sum).
 */
const WG = 128;
const SG_WG = 64;

/** Tree reduction in workgroup memory: log2(WG) + 1 barriers per sum. */
const TREE_SUM = /* wgsl */ `
var<workgroup> red: array<f32, WG>;

fn workgroup_sum(v: f32, li: u32, sg_lane: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
`;

/**
 * Workgroup sum through subgroups: subgroupAdd, then each subgroup's leader claims a slot with an
 * atomic (the WGSL spec does not fix which invocations form a subgroup), one barrier, and every
 * invocation adds the few partial sums.
 */
const SUBGROUP_SUM = /* wgsl */ `
var<workgroup> partial: array<f32, WG>;
var<workgroup> slots: atomic<u32>;

fn workgroup_sum(v: f32, li: u32, sg_lane: u32) -> f32 {
  let s = subgroupAdd(v);
  if (li == 0u) { atomicStore(&slots, 0u); }
  workgroupBarrier();
  if (sg_lane == 0u) { partial[atomicAdd(&slots, 1u)] = s; }
  workgroupBarrier();
  let n = atomicLoad(&slots);
  var total = 0.0;
  for (var i = 0u; i < n; i++) { total += partial[i]; }
  workgroupBarrier();
  return total;
}
`;

/** The WGSL of both variants: the same two-pass row statistics over a tree or a subgroup reduction. */
export function layerNormCode(subgroup: boolean): string {
  const wg = subgroup ? SG_WG : WG;
  return /* wgsl */ `
${subgroup ? 'enable subgroups;' : ''}
struct Params {
  rows: u32,
  D: u32,
  eps: f32,
  grid_x: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;      // [rows, D]
@group(0) @binding(1) var<storage, read> gamma: array<f32>;  // [D]
@group(0) @binding(2) var<storage, read> beta: array<f32>;   // [D]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [rows, D]
@group(0) @binding(4) var<uniform> params: Params;

const WG = ${wg}u;
${subgroup ? SUBGROUP_SUM : TREE_SUM}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32${subgroup ? ',\n        @builtin(subgroup_invocation_id) sg_lane: u32' : ''}) {
  ${subgroup ? '' : 'let sg_lane = 0u; // unused by the tree reduction'}
  let row = wg.y * params.grid_x + wg.x;
  if (row >= params.rows) { return; }
  let D = params.D;
  let base = row * D;
  let pivot = x[base];
  var s = 0.0;
  for (var i = li; i < D; i += WG) { s += x[base + i] - pivot; }
  let mean_d = workgroup_sum(s, li, sg_lane) / f32(D);
  var v = 0.0;
  for (var i = li; i < D; i += WG) {
    let d = (x[base + i] - pivot) - mean_d;
    v += d * d;
  }
  let variance = workgroup_sum(v, li, sg_lane) / f32(D);
  // Σd² beyond float32 (deviations above about sqrt(3.4e38 / D)) is +Inf, and 1/sqrt(+Inf) = 0
  // would write beta for the whole row: the same answer for every input. The row is NaN instead
  // (variance's bits with the quiet-NaN bits set: a NaN literal is not valid WGSL), which
  // forward() reports as a float32 overflow. A NaN variance gives NaN either way.
  let overflow = (bitcast<u32>(variance) & 0x7fffffffu) >= 0x7f800000u;
  let inv = select(1.0 / sqrt(variance + params.eps), bitcast<f32>(bitcast<u32>(variance) | 0x7fc00000u), overflow);
  for (var i = li; i < D; i += WG) {
    let d = (x[base + i] - pivot) - mean_d;
    out[base + i] = d * inv * gamma[i] + beta[i];
  }
}
`;
}

