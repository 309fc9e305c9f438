import { clip, WebvitError } from '../errors.js';
import { topkOrder } from '../kernels/topk/reference.js';

/**
 * Indices and values of the k largest entries of each row of a [rows, n] array, largest first;
 * equal values by lower index, NaN after every number. The GPU's topk op (src/kernels/topk/) uses
 * the same order, so `forward(x, { topK })` names the same classes.
 */
export function topK(values: Float32Array, n: number, k: number): { index: number; value: number }[][] {
  if (!(values instanceof Float32Array && n >= 1 && k >= 1 && n % 1 == 0 && k % 1 == 0 && values.length % n == 0)) {
    throw new WebvitError('BAD_ARGUMENT', `topK(values, n, k): values must be a Float32Array of rows of n; n and k whole numbers ≥ 1 (n ${clip(String(n))}, k ${clip(String(k))})`);
  }
  const rows = values.length / n;
  const out: { index: number; value: number }[][] = [];
  for (let r = 0; r < rows; r++) {
    out.push(topkOrder(values, r * n, n).slice(0, Math.min(k, n)).map((index) => ({ index, value: values[r * n + index] })));
  }
  return out;
}

/** Softmax of each row, in float64, for printing probabilities. */
export function softmaxRows(values: Float32Array, n: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let r = 0; r < values.length / n; r++) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, values[r * n + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += out[r * n + i] = Math.exp(values[r * n + i] - max);
    for (let i = 0; i < n; i++) out[r * n + i] /= sum;
  }
  return out;
}
