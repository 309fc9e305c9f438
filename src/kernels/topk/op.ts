import { grid1d, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { WebvitError } from '../../errors.js';

/**
 * topk: softmax of each row of logits [rows, n] and its K most probable classes, so that only K
 * (index, probability) pairs per image leave the GPU instead of the n logits.
 *   out[r, j] = (index, p) of the j-th largest logit of row r, p = exp(x − max) / Σ exp(x − max)
 * Order: larger logit first, equal logits by lower index (as src/model/topk.ts sorts), −0 equal
 * to +0, NaN below every number (−Inf included). A row holding any NaN or ±Inf has no softmax:
 * all its K probabilities are NaN (its indices still follow the order above), so a caller sees it.
 */
export interface TopKArgs {
  label: string;
  rows: number;
  /** Classes per row. */
  n: number;
  /** Pairs kept per row, 1 ≤ k ≤ n. */
  k: number;
  logits: Binding;
  /** [rows, k, 2] float32: index (exact: n < 2²⁴), probability. */
  out: Binding;
  /** Kernel variant (TOPK_VARIANTS); default 'workgroup_row'. */
  variant?: TopKVariant;
}

/** A top-K problem as the definition reads it off a dispatch. */
export interface TopKShape {
  rows: number;
  n: number;
  k: number;
  /** Test data only: logits rounded to whole numbers, so rows are full of ties. */
  ties?: boolean;
}

const WG = 64;

/**
 * workgroup_row: one workgroup per row. One reduction finds the largest logit (and whether the row
 * is finite), one sums exp(x − max), then K reductions each find the largest element after the
 * previous pick in the (value, index) order: no sort, no workgroup copy of the row, O(K·n/64)
 * loads per invocation. K is small in practice (5 of 1000).
 */
export function topkCode(): string {
  return /* wgsl */ `
struct Params {
  rows: u32,
  n: u32,
  k: u32,
  grid_x: u32,
}
@group(0) @binding(0) var<storage, read> logits: array<f32>;    // [rows, n]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [rows, k, 2]: index, p
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> best_key: array<u32, ${WG}>;
var<workgroup> best_idx: array<u32, ${WG}>;
var<workgroup> partial: array<f32, ${WG}>;
var<workgroup> bad: atomic<u32>;

// A u32 whose order is the logits' order (WGSL may assume floats are finite, so NaN and ±Inf are
// told apart by their bits, never by comparisons): NaN lowest (0), −0 and +0 equal.
fn order_key(u: u32) -> u32 {
  let mag = u & 0x7fffffffu;
  if (mag > 0x7f800000u) { return 0u; }
  if (mag == 0u) { return 0x80000000u; }
  if ((u & 0x80000000u) != 0u) { return ~u; }
  return u | 0x80000000u;
}

// (key, idx) comes before (bk, bi): a larger logit, or the same one at a lower index.
fn before(key: u32, idx: u32, bk: u32, bi: u32) -> bool {
  return key > bk || (key == bk && idx < bi);
}

// The first element (in the order above) after (pk, pi) among this row; (0, 0xffffffff) if none.
fn next_after(base: u32, li: u32, pk: u32, pi: u32) -> vec2<u32> {
  var bk = 0u;
  var bi = 0xffffffffu;
  for (var i = li; i < params.n; i += ${WG}u) {
    let key = order_key(bitcast<u32>(logits[base + i]));
    if (before(pk, pi, key, i) && before(key, i, bk, bi)) {
      bk = key;
      bi = i;
    }
  }
  best_key[li] = bk;
  best_idx[li] = bi;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (li < s && before(best_key[li + s], best_idx[li + s], best_key[li], best_idx[li])) {
      best_key[li] = best_key[li + s];
      best_idx[li] = best_idx[li + s];
    }
    workgroupBarrier();
  }
  let r = vec2<u32>(best_key[0], best_idx[0]);
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.y * params.grid_x + wg.x;
  if (row >= params.rows) { return; }
  let base = row * params.n;
  if (li == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();
  // 1. The largest logit (the first pick), and whether the row has a NaN or ±Inf.
  for (var i = li; i < params.n; i += ${WG}u) {
    if ((bitcast<u32>(logits[base + i]) & 0x7f800000u) == 0x7f800000u) { atomicOr(&bad, 1u); }
  }
  var pick = next_after(base, li, 0xffffffffu, 0u);
  let m = logits[base + pick.y];
  // 2. Σ exp(x − max).
  var s = 0.0;
  for (var i = li; i < params.n; i += ${WG}u) { s += exp(logits[base + i] - m); }
  partial[li] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (li < h) { partial[li] += partial[li + h]; }
    workgroupBarrier();
  }
  let sum = partial[0];
  let nonfinite = atomicLoad(&bad) != 0u;
  // 3. K picks, each the first element after the previous one.
  for (var j = 0u; j < params.k; j++) {
    if (j > 0u) { pick = next_after(base, li, pick.x, pick.y); }
    if (li == 0u) {
      let o = 2u * (row * params.k + j);
      out[o] = f32(pick.y);
      var p = exp(logits[base + pick.y] - m) / sum;
      // A quiet NaN made at run time (a NaN constant is a shader-creation error in WGSL).
      var nan_bits = 0x7fc00000u;
      if (nonfinite) { p = bitcast<f32>(nan_bits); }
      out[o + 1u] = p;
    }
  }
}
`;
}

export const TOPK_VARIANTS = {
  workgroup_row: { summary: 'one workgroup per row: max, Σexp, then K reductions each picking the next largest (value, index)', code: topkCode },
} satisfies Record<string, VariantInfo & { code(): string }>;

export type TopKVariant = keyof typeof TOPK_VARIANTS;

export function topk(a: TopKArgs): Dispatch {
  const variant = a.variant ?? 'workgroup_row';
  const v = variantOf('topk', TOPK_VARIANTS, variant, a.label);
  for (const [name, x] of [['rows', a.rows], ['classes', a.n], ['K', a.k]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: topk needs a positive whole number of ${name}, got ${x}`);
  }
  if (a.k > a.n) throw new WebvitError('BAD_ARGUMENT', `${a.label}: topk K = ${a.k} is more than the ${a.n} classes; ask for at most ${a.n}`);
  if (a.n >= 1 << 24) throw new WebvitError('BAD_ARGUMENT', `${a.label}: topk handles fewer than 2^24 classes (indices are exact float32), got ${a.n}`);
  const workgroups = grid1d(a.rows);
  return {
    label: a.label,
    source: variantSource('topk', variant, { WG }, v.code()),
    op: { name: 'topk', variant, shape: { rows: a.rows, n: a.n, k: a.k } satisfies TopKShape, withVariant: (other) => topk({ ...a, variant: other as TopKVariant }) },
    bindings: { logits: a.logits, out: a.out },
    uniforms: { rows: a.rows, n: a.n, k: a.k, grid_x: workgroups[0] },
    sizes: { logits: 4 * a.rows * a.n, out: 8 * a.rows * a.k },
    workgroups,
    flops: a.rows * a.n * (4 + a.k),
    bytes: 4 * a.rows * (a.n * (2 + a.k) + 2 * a.k),
  };
}
