/** The order topk uses: NaN below every number, −0 equal to +0; equal values by lower index. */
export function topkOrder(values: ArrayLike<number>, from: number, n: number): number[] {
  const rank = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  const nan = (v: number) => (Number.isNaN(v) ? 1 : 0);
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    const [x, y] = [values[from + a], values[from + b]];
    return nan(x) - nan(y) || (rank(y) > rank(x) ? 1 : rank(y) < rank(x) ? -1 : 0) || a - b;
  });
}

/**
 * float64 reference of topk: [rows, k, 2] (index, softmax probability) of each row's k largest
 * logits; a row with any NaN or ±Inf gets NaN probabilities.
 */
export function topkRef(logits: ArrayLike<number>, rows: number, n: number, k: number): Float64Array {
  const out = new Float64Array(rows * k * 2);
  for (let r = 0; r < rows; r++) {
    const order = topkOrder(logits, r * n, n);
    let finite = true;
    for (let i = 0; i < n; i++) finite &&= Number.isFinite(logits[r * n + i]);
    const max = logits[r * n + order[0]];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(logits[r * n + i] - max);
    for (let j = 0; j < k; j++) {
      out[2 * (r * k + j)] = order[j];
      out[2 * (r * k + j) + 1] = finite ? Math.exp(logits[r * n + order[j]] - max) / sum : NaN;
    }
  }
  return out;
}
