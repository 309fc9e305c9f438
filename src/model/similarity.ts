import { WebvitError } from '../errors.js';

/**
 * Cosine similarity of two embeddings (`clf.embed`, `forward(..., { features: true })`): a·b /
 * (|a|·|b|), from −1 to 1, in float64, each vector scaled by its largest |value| first (so
 * 1e-200 or 1e200 entries neither underflow nor overflow). An all-zero embedding has no direction:
 * its similarity to anything is 0. Vectors of different widths (two models), empty ones, and values
 * that are not finite numbers (null, a string, NaN) are a BAD_ARGUMENT.
 *
 *   const [a, b] = await clf.embed([photo1, photo2]);
 *   similarity(a, b);   // 0.83
 */
export function similarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const x = vector(a, 'a');
  const y = vector(b, 'b');
  if (x.length !== y.length) throw new WebvitError('BAD_ARGUMENT', `similarity(a, b): different widths (${x.length} and ${y.length}): two models?`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i];
    na += x[i] * x[i];
    nb += y[i] * y[i];
  }
  return na === 0 || nb === 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}

/** An embedding as float64, divided by its largest |value|; or a BAD_ARGUMENT naming it. */
function vector(v: ArrayLike<number>, name: string): Float64Array {
  const bad = (why: string): never => {
    throw new WebvitError('BAD_ARGUMENT', `similarity(a, b): ${name} ${why}`);
  };
  let out: Float64Array;
  try {
    const n = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)) ? v.length : 0;
    if (!(Number.isSafeInteger(n) && n > 0 && n <= 2 ** 28)) bad('must be an embedding (a Float32Array or an array of numbers), not empty');
    // Only numbers: null, '1' or an object with valueOf were taken as 0, 1 or whatever it returned.
    out = Float64Array.from(v as ArrayLike<number>, (x) => (typeof x == 'number' ? x : NaN));
  } catch (e) {
    throw e instanceof WebvitError ? e : bad('is not numbers');
  }
  let max = 0;
  for (const x of out!) max = Math.max(max, Math.abs(x));
  if (!Number.isFinite(max)) bad('holds NaN, ±Infinity or a non-number');
  if (max > 0) for (let i = 0; i < out!.length; i++) out![i] /= max;
  return out!;
}
