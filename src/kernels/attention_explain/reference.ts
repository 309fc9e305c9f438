import { softmaxRowRef } from '../attention/reference.js';
/**
 * float64 reference of attention_explain's distances: qkv [B, T, 3, H, Dh] -> dist [B, H, N],
 * dist[b, h, n] = Σ_{patch key j} A[b, h][P + n, j] · ‖centre(n) − centre(j − P)‖ · patchSize,
 * A = softmax over all T keys of q·kᵀ/√Dh (+ a score bias [H, T, T]: BEiT) (the attention output
 * itself is attentionRef's).
 */
export function attentionDistanceRef(qkv: ArrayLike<number>, B: number, T: number, H: number, Dh: number, prefix: number, grid: number, patchSize: number, bias?: ArrayLike<number>): Float64Array {
  const N = grid * grid;
  const out = new Float64Array(B * H * N);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < N; n++) {
        softmaxRowRef(qkv, b, h, prefix + n, T, H, Dh, s, bias);
        let acc = 0;
        const [qr, qc] = [Math.floor(n / grid), n % grid];
        for (let k = 0; k < N; k++) acc += s[prefix + k] * Math.hypot(qr - Math.floor(k / grid), qc - (k % grid));
        out[(b * H + h) * N + n] = acc * patchSize;
      }
    }
  }
  return out;
}
