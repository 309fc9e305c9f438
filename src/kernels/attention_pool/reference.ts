/**
 * Into `s` (length T): the float64 softmax over image b's T tokens of head h's scores q_h·k/√Dh,
 * from the query q [H·Dh] and kv [B, T, 2, H, Dh]: the weights attention_pool gives the values.
 * Shared by its reference and by explain's probe row (src/model/explain.ts, probeAttention).
 */
export function probeSoftmaxRef(q: ArrayLike<number>, kv: ArrayLike<number>, b: number, h: number, T: number, H: number, Dh: number, s: Float64Array): void {
  const D = H * Dh;
  let max = -Infinity;
  for (let t = 0; t < T; t++) {
    const ko = (b * T + t) * 2 * D + h * Dh;
    let d = 0;
    for (let c = 0; c < Dh; c++) d += q[h * Dh + c] * kv[ko + c];
    s[t] = d / Math.sqrt(Dh);
    if (s[t] > max) max = s[t];
  }
  let sum = 0;
  for (let t = 0; t < T; t++) sum += (s[t] = Math.exp(s[t] - max));
  for (let t = 0; t < T; t++) s[t] /= sum;
}

/** float64 reference of attention_pool: q [H·Dh], kv [B, T, 2, H, Dh] -> out [B, H·Dh]. */
export function attentionPoolRef(q: ArrayLike<number>, kv: ArrayLike<number>, B: number, T: number, H: number, Dh: number): Float64Array {
  const D = H * Dh;
  const out = new Float64Array(B * D);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      probeSoftmaxRef(q, kv, b, h, T, H, Dh, s);
      for (let t = 0; t < T; t++) {
        const vo = (b * T + t) * 2 * D + D + h * Dh;
        for (let c = 0; c < Dh; c++) out[b * D + h * Dh + c] += s[t] * kv[vo + c];
      }
    }
  }
  return out;
}
