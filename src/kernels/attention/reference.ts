/**
 * Into `s` (length T): the float64 softmax over all T keys of query `i`'s scores q·kᵀ/√Dh (plus
 * bias[h, i, j] when a bias [H, T, T] is given: BEiT's relative position bias), image `b`, head
 * `h`, read from qkv [B, T, 3, H, Dh]. Shared by the references of attention, its head average
 * (attention_probs) and its distances (attention_explain).
 */
export function softmaxRowRef(qkv: ArrayLike<number>, b: number, h: number, i: number, T: number, H: number, Dh: number, s: Float64Array, bias?: ArrayLike<number>): void {
  const D = H * Dh;
  const scale = 1 / Math.sqrt(Dh);
  const qo = (b * T + i) * 3 * D + h * Dh;
  let max = -Infinity;
  for (let j = 0; j < T; j++) {
    const ko = (b * T + j) * 3 * D + D + h * Dh;
    let d = 0;
    for (let c = 0; c < Dh; c++) d += qkv[qo + c] * qkv[ko + c];
    s[j] = d * scale + (bias ? bias[(h * T + i) * T + j] : 0);
    if (s[j] > max) max = s[j];
  }
  let sum = 0;
  for (let j = 0; j < T; j++) sum += (s[j] = Math.exp(s[j] - max));
  for (let j = 0; j < T; j++) s[j] /= sum;
}

/** float64 reference: qkv [B, T, 3, H, Dh] (and a score bias [H, T, T]) -> out [B, T, H, Dh], softmax(q·kᵀ/√Dh + bias)·v per head. */
export function attentionRef(qkv: ArrayLike<number>, B: number, T: number, H: number, Dh: number, bias?: ArrayLike<number>): Float64Array {
  const D = H * Dh;
  const out = new Float64Array(B * T * D);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        softmaxRowRef(qkv, b, h, i, T, H, Dh, s, bias);
        const oo = (b * T + i) * D + h * Dh;
        for (let j = 0; j < T; j++) {
          const vo = (b * T + j) * 3 * D + 2 * D + h * Dh;
          const p = s[j];
          for (let c = 0; c < Dh; c++) out[oo + c] += p * qkv[vo + c];
        }
      }
    }
  }
  return out;
}
