import type { Pooling } from './op.js';

/** float64 reference of token pooling: x [batch, T, D] -> [batch, D]. */
export function poolRef(x: ArrayLike<number>, mode: Pooling, batch: number, T: number, D: number): Float64Array {
  const out = new Float64Array(batch * D);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < D; d++) {
      if (mode === 'cls') out[b * D + d] = x[b * T * D + d];
      else {
        let s = 0;
        for (let t = 1; t < T; t++) s += x[(b * T + t) * D + d];
        out[b * D + d] = s / (T - 1);
      }
    }
  }
  return out;
}
