/**
 * Finite-value checks for what goes into and comes out of a forward pass. NaN or ±Inf in the
 * pixels makes every logit of that image NaN, and a NaN logit printed as a class probability is a
 * wrong answer that looks like one; so inputs are checked where they enter and outputs before they
 * are returned.
 */

/**
 * Index of the first NaN or ±Inf in `a`, or -1. The common case (all finite) is one branch-free
 * pass: x·0 is 0 for every finite x and NaN for NaN and ±Inf, so a sum of them is NaN exactly
 * when some value is not finite. Four sums break the chain of dependent additions (about 1 ns a
 * value: ViT-B/16's batch-32 input, 4.8 M values, in about 5 ms).
 */
export function firstNonFinite(a: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n4 = a.length - (a.length % 4);
  for (let i = 0; i < n4; i += 4) {
    s0 += a[i] * 0;
    s1 += a[i + 1] * 0;
    s2 += a[i + 2] * 0;
    s3 += a[i + 3] * 0;
  }
  for (let i = n4; i < a.length; i++) s0 += a[i] * 0;
  if (s0 + s1 + s2 + s3 === 0) return -1;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1; // unreachable: acc was NaN
}

/** Indices of the rows (of `rowLength` values) that hold a NaN or ±Inf. */
export function nonFiniteRows(a: Float32Array, rowLength: number): number[] {
  const rows: number[] = [];
  if (rowLength === 0 || firstNonFinite(a) < 0) return rows;
  for (let r = 0; r * rowLength < a.length; r++) {
    if (firstNonFinite(a.subarray(r * rowLength, (r + 1) * rowLength)) >= 0) rows.push(r);
  }
  return rows;
}

/** Largest |value| of `a` (0 for an empty array). */
export function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m) m = v;
  }
  return m;
}

/**
 * The largest |input value| a model takes (forward() refuses an image beyond it). With |x| ≤ L
 * each patch embedding is at most E = L·max_o ‖W[:, o]‖₁ + max|bias| + max|pos_embed| (class
 * tokens: their own size), and a layernorm's Σ(e − mean)² over D values at most D·(2E)²: kept a
 * factor 2 below float32's 3.4e38, E ≤ √(3.4e38 / 8D). The residual stream keeps that scale
 * through the blocks (what they add does not grow with the input), so every layernorm's
 * statistics fit. Beyond L float32 overflows there first (PyTorch answers NaN). Trained ViTs take
 * about 1e15–1e16; normalised pixels are within about ±10.
 */
export function inputLimit(D: number, tensors: Map<string, Float32Array>): number {
  const w = tensors.get('patch_embed.weight') ?? new Float32Array(0); // [C·P·P, D]
  const l1 = new Float64Array(D);
  for (let i = 0; i < w.length; i++) l1[i % D] += Math.abs(w[i]);
  const b = ['patch_embed.bias', 'pos_embed', 'cls_token', 'dist_token'].reduce((m, n) => m + maxAbs(tensors.get(n) ?? new Float32Array(0)), 0);
  return Math.max(0, Math.sqrt(3.4e38 / (8 * D)) - b) / Math.max(...l1);
}

/** "images 0, 2 of 3" / "image 1 of 3", listing at most 10. */
export function imageList(images: number[], batch: number): string {
  const shown = images.slice(0, 10).join(', ') + (images.length > 10 ? `, … (${images.length} in all)` : '');
  return `${images.length === 1 ? 'image' : 'images'} ${shown} of ${batch}`;
}
