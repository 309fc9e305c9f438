import { CHUNK, finiteCheckChunks } from './op.js';

/** What a non-finite value is: the `kind` of finite_check's output code. */
export type NonFinite = 'NaN' | 'Infinity' | '-Infinity';
const KINDS: readonly NonFinite[] = ['NaN', 'Infinity', '-Infinity'];

/** A non-finite input value: its image, its index within the image, what it is. */
export interface NonFiniteValue {
  image: number;
  index: number;
  value: NonFinite;
}

/**
 * float64 reference of finite_check: per image and chunk, [code, largest finite |value|], the code
 * −1 or 4·(index in the chunk) + kind (1 NaN, 2 +Inf, 3 −Inf) of the chunk's first non-finite value.
 */
export function finiteCheckRef(x: ArrayLike<number>, batch: number, values: number): Float64Array {
  const chunks = finiteCheckChunks(values);
  const out = new Float64Array(2 * batch * chunks);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < chunks; c++) {
      const start = c * CHUNK;
      let code = -1;
      let largest = 0;
      for (let i = 0; i < CHUNK && start + i < values; i++) {
        const v = x[b * values + start + i];
        if (Number.isFinite(v)) largest = Math.max(largest, Math.abs(v));
        else if (code < 0) code = 4 * i + (Number.isNaN(v) ? 1 : v > 0 ? 2 : 3);
      }
      out[2 * (b * chunks + c)] = code;
      out[2 * (b * chunks + c) + 1] = largest;
    }
  }
  return out;
}

/** The first non-finite value of each image that has one, from finite_check's output. */
export function decodeFiniteCheck(out: ArrayLike<number>, batch: number, values: number): NonFiniteValue[] {
  const chunks = finiteCheckChunks(values);
  const found: NonFiniteValue[] = [];
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < chunks; c++) {
      const code = out[2 * (b * chunks + c)];
      if (code < 0) continue;
      found.push({ image: b, index: c * CHUNK + Math.floor(code / 4), value: KINDS[(code % 4) - 1] });
      break;
    }
  }
  return found;
}

/** The largest finite |value| of each image, from finite_check's output. */
export function largestPerImage(out: ArrayLike<number>, batch: number, values: number): number[] {
  const chunks = finiteCheckChunks(values);
  return Array.from({ length: batch }, (_, b) => {
    let m = 0;
    for (let c = 0; c < chunks; c++) m = Math.max(m, out[2 * (b * chunks + c) + 1]);
    return m;
  });
}
