/** float64 reference of the patch embedding with class token and positions: image [B, C, S, S] -> [B, T, D]. */
export function patchEmbedRef(
  image: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, prefixTokens: ArrayLike<number>[], pos: ArrayLike<number>,
  B: number, C: number, S: number, P: number, D: number,
): Float64Array {
  const G = S / P;
  const NP = prefixTokens.length;
  const T = NP + G * G;
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    prefixTokens.forEach((tok, t) => {
      for (let d = 0; d < D; d++) out[(b * T + t) * D + d] = tok[d] + pos[t * D + d];
    });
    for (let py = 0; py < G; py++) {
      for (let px = 0; px < G; px++) {
        const t = NP + py * G + px;
        const o = (b * T + t) * D;
        for (let d = 0; d < D; d++) out[o + d] = bias[d] + pos[t * D + d];
        for (let c = 0; c < C; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) {
              const pix = image[((b * C + c) * S + py * P + ky) * S + px * P + kx];
              const k = (c * P + ky) * P + kx;
              for (let d = 0; d < D; d++) out[o + d] += pix * w[k * D + d];
            }
          }
        }
      }
    }
  }
  return out;
}
