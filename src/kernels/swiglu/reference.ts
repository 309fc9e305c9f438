/** float64 silu(v) = v · sigmoid(v). */
export const silu64 = (v: number): number => v / (1 + Math.exp(-v));

/** float64 reference of swiglu: x [rows, 2H] = [x1 | x2] -> out [rows, H] = silu(x1) · x2. */
export function swigluRef(x: ArrayLike<number>, rows: number, H: number): Float64Array {
  const out = new Float64Array(rows * H);
  for (let r = 0; r < rows; r++) for (let j = 0; j < H; j++) out[r * H + j] = silu64(x[r * 2 * H + j]) * x[r * 2 * H + H + j];
  return out;
}
