import { WebvitError } from '../../errors.js';
import { floatToHalf, halfToFloat } from '../half.js';

/**
 * Weight-only quantisation of a matmul weight W[K, N] (issue 21, docs/quantization.md): the one
 * definition of the codes and scales that the converter writes, the weight file stores, the GPU
 * reads as they are (no f32 copy) and the float64 references dequantise.
 *
 * - int8: symmetric, one scale per output column n: s[n] = float32(max_k |W[k, n]| / 127);
 *   code = clamp(rint(W / s), -127, 127) (rint: to nearest, ties to even; the division in float64
 *   by the stored float32 scale). W ≈ code · s[n].
 * - q4: one scale per block of 32 rows along K in each column, all 16 levels used: for block b
 *   (rows 32b .. min(32b + 32, K) − 1) let m be its value of largest magnitude (the first such row,
 *   with its sign); s[b, n] = float16(float32(m / -8)) (an IEEE half, negative when m is positive;
 *   the rounding through float32 is part of the definition, so a NumPy quantiser can reproduce it
 *   bit for bit); code = clamp(rint(W / s), -8, 7). m itself is code -8, values of the other sign
 *   reach +7 (a value within |m|/8 of -m is clamped there). A block of zeros (or whose scale
 *   underflows to 0) gets scale 0 and codes 0. Measured against the symmetric ±7 grid it replaced
 *   (s = max |W| / 7, 15 levels): on the bundled Fashion-MNIST model the q4 top-1 agreement with
 *   f32 over its 10,000 test images went from 97.54 % to 98.34 % (the floor is 98 %), at
 *   the same size (docs/quantization.md).
 *
 * Codes are in W's row-major flat order i = k·N + n (the order the kernels index W by, as for f32
 * and f16 weights): int8 code i is byte i, two's complement; q4 code i is byte i >> 1, the low
 * nibble for even i, a two's complement nibble. So on the GPU, read as u32 words (little-endian),
 * int8 code i is `extractBits(bitcast<i32>(w[i / 4]), 8 * (i % 4), 8)` and q4 code i is
 * `extractBits(bitcast<i32>(w[i / 8]), 4 * (i % 8), 4)` (extractBits on i32 sign-extends).
 * Scales: int8 as f32 [N]; q4 as half bits [ceil(K / 32), N] row-major (two per u32 on the GPU,
 * the low half first, as f16 weights are).
 */
export type QuantKind = 'int8' | 'q4';

/** Rows of K that share one q4 scale. */
export const Q4_BLOCK = 32;
const MAX_CODE: Record<QuantKind, number> = { int8: 127, q4: 7 };
const MIN_CODE: Record<QuantKind, number> = { int8: -127, q4: -8 };

export interface QuantizedMatrix {
  kind: QuantKind;
  K: number;
  N: number;
  /** The codes, packed as above: int8 K·N bytes, q4 ceil(K·N / 2) bytes. */
  codes: Uint8Array;
  /** int8: Float32Array [N]; q4: Uint16Array of IEEE half bits [ceil(K / 32), N]. */
  scales: Float32Array | Uint16Array;
}

/** Bytes of the packed codes of a K×N weight. */
export const codeBytes = (kind: QuantKind, K: number, N: number): number => (kind === 'int8' ? K * N : Math.ceil((K * N) / 2));

/** Shape of the scales of a K×N weight. */
export const scaleShape = (kind: QuantKind, K: number, N: number): number[] => (kind === 'int8' ? [N] : [Math.ceil(K / Q4_BLOCK), N]);

/** To nearest, ties to even (NumPy's rint). */
export function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantises W[K, N] (row-major float32) as `kind`. Refuses a value that is not finite. */
export function quantize(w: Float32Array, K: number, N: number, kind: QuantKind, label = 'weight'): QuantizedMatrix {
  if (w.length !== K * N) throw new WebvitError('BAD_ARGUMENT', `${label}: quantize got ${w.length} values for [${K}, ${N}]`);
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i])) throw new WebvitError('BAD_WEIGHTS', `${label}: holds ${w[i]} at flat index ${i}; a weight must be finite to be quantised`);
  }
  const codes = new Uint8Array(codeBytes(kind, K, N));
  const lo = MIN_CODE[kind];
  const hi = MAX_CODE[kind];
  const rows = kind === 'int8' ? K : Q4_BLOCK;
  const blocks = Math.ceil(K / rows);
  const scales = kind === 'int8' ? new Float32Array(N) : new Uint16Array(blocks * N);
  for (let b = 0; b < blocks; b++) {
    const k0 = b * rows;
    const k1 = Math.min(k0 + rows, K);
    for (let n = 0; n < N; n++) {
      let max = 0;
      let signed = 0; // the first value of largest magnitude (q4)
      for (let k = k0; k < k1; k++) {
        const v = w[k * N + n];
        if (Math.abs(v) > max) {
          max = Math.abs(v);
          signed = v;
        }
      }
      let s: number;
      if (kind === 'int8') {
        s = Math.fround(max / hi);
        scales[n] = s;
      } else {
        const bits = signed === 0 ? 0 : floatToHalf(Math.fround(signed / -8)); // +0 for a block of zeros
        if ((bits & 0x7c00) === 0x7c00) throw new WebvitError('BAD_WEIGHTS', `${label}: column ${n} of rows ${k0}..${k1 - 1} reaches ${max}, beyond what a 4-bit block's f16 scale holds (±${65504 * 8}); keep this model in f32, f16 or int8`);
        scales[b * N + n] = bits;
        s = halfToFloat(bits);
      }
      for (let k = k0; k < k1; k++) {
        const i = k * N + n;
        const c = s === 0 ? 0 : Math.min(hi, Math.max(lo, rint(w[i] / s)));
        if (kind === 'int8') codes[i] = c & 0xff;
        else codes[i >> 1] |= (c & 0xf) << (4 * (i & 1));
      }
    }
  }
  return { kind, K, N, codes, scales };
}

/** Code i (flat k·N + n) of a quantised matrix, as a signed integer. */
export function codeAt(q: QuantizedMatrix, i: number): number {
  if (q.kind === 'int8') return (q.codes[i] << 24) >> 24;
  return (((q.codes[i >> 1] >> (4 * (i & 1))) & 0xf) << 28) >> 28;
}

/** The scale of W[k, n]. */
export function scaleAt(q: QuantizedMatrix, k: number, n: number): number {
  return q.kind === 'int8' ? q.scales[n] : halfToFloat(q.scales[Math.floor(k / Q4_BLOCK) * q.N + n]);
}

/** W as the kernels see it, in float64: code · scale (what the float64 references multiply by). */
export function dequantize(q: QuantizedMatrix): Float64Array {
  const out = new Float64Array(q.K * q.N);
  for (let k = 0; k < q.K; k++) for (let n = 0; n < q.N; n++) out[k * q.N + n] = codeAt(q, k * q.N + n) * scaleAt(q, k, n);
  return out;
}
