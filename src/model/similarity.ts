import { WebvitError } from '../errors.js';

/**
 * Cosine similarity of two embeddings (`clf.embed`, `forward(..., { features: true })`): a·b /
 * (|a|·|b|), from −1 to 1, summed in float64. An all-zero embedding has no direction: its
 * similarity to anything is 0. Embeddings of different widths (two models) are a BAD_ARGUMENT.
 *
 *   const [a, b] = await clf.embed([photo1, photo2]);
 *   similarity(a, b);   // 0.83
 */
export function similarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const isVector = (v: unknown) => ArrayBuffer.isView(v) || Array.isArray(v);
  if (!isVector(a) || !isVector(b)) throw new WebvitError('BAD_ARGUMENT', 'similarity(a, b): a and b must be embeddings (Float32Array, as clf.embed returns them, or arrays of numbers)');
  if (a.length !== b.length) throw new WebvitError('BAD_ARGUMENT', `similarity(a, b): embeddings of different widths (${a.length} and ${b.length}): from two different models?`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (!Number.isFinite(dot + na + nb)) throw new WebvitError('BAD_ARGUMENT', 'similarity(a, b): an embedding holds NaN or ±Infinity');
  return na === 0 || nb === 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}
