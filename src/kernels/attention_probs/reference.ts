import { softmaxRowRef } from '../attention/reference.js';
/** float64 reference: qkv [B, T, 3, H, Dh] -> out [B, T, T], softmax(q·kᵀ/√Dh) averaged over the H heads. */
export function headMeanProbsRef(qkv: ArrayLike<number>, B: number, T: number, H: number, Dh: number, bias?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(B * T * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        softmaxRowRef(qkv, b, h, i, T, H, Dh, s, bias);
        const o = (b * T + i) * T;
        for (let j = 0; j < T; j++) out[o + j] += s[j] / H;
      }
    }
  }
  return out;
}
