/** Largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;

/**
 * float64 reference: out[r, :] = (x[r, :] − mean) / sqrt(var + eps) · gamma + beta (biased variance,
 * as PyTorch). A row whose sum of squared deviations exceeds float32's range is all NaN: the
 * kernel's contract (two_pass.ts), where a float32 1/sqrt(+Inf) = 0 would otherwise write beta.
 */
export function layerNormRef(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, D: number, eps: number): Float64Array {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - mean) ** 2;
    const inv = v > FLT_MAX ? NaN : 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) out[r * D + i] = (x[r * D + i] - mean) * inv * gamma[i] + beta[i];
  }
  return out;
}
