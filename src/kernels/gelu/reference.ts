import { gelu64 } from '../reference_math.js';

/** float64 reference of the exact (erf) GELU. */
export function geluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, gelu64);
}
