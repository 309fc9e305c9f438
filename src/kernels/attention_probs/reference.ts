/** float64 reference: qkv [B, T, 3, H, Dh] -> out [B, T, T], softmax(q·kᵀ/√Dh) averaged over the H heads. */
export function headMeanProbsRef(qkv: ArrayLike<number>, B: number, T: number, H: number, Dh: number): Float64Array {
  const D = H * Dh;
  const out = new Float64Array(B * T * T);
  const s = new Float64Array(T);
  const scale = 1 / Math.sqrt(Dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qo = (b * T + i) * 3 * D + h * Dh;
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          const ko = (b * T + j) * 3 * D + D + h * Dh;
          let d = 0;
          for (let c = 0; c < Dh; c++) d += qkv[qo + c] * qkv[ko + c];
          s[j] = d * scale;
          if (s[j] > max) max = s[j];
        }
        let sum = 0;
        for (let j = 0; j < T; j++) sum += (s[j] = Math.exp(s[j] - max));
        const o = (b * T + i) * T;
        for (let j = 0; j < T; j++) out[o + j] += s[j] / sum / H;
      }
    }
  }
  return out;
}
