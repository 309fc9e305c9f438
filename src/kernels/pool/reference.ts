import type { Pooling } from './op.js';

/** float64 reference of token pooling: x [batch, T, D] -> cls: [batch, prefix, D]; mean: [batch, D] over tokens ≥ prefix. */
export function poolRef(x: ArrayLike<number>, mode: Pooling, batch: number, T: number, D: number, prefix: number): Float64Array {
  if (mode === 'cls') {
    const out = new Float64Array(batch * prefix * D);
    for (let b = 0; b < batch; b++) for (let i = 0; i < prefix * D; i++) out[b * prefix * D + i] = x[b * T * D + i];
    return out;
  }
  const out = new Float64Array(batch * D);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let t = prefix; t < T; t++) s += x[(b * T + t) * D + d];
      out[b * D + d] = s / (T - prefix);
    }
  }
  return out;
}
