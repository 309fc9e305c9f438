export { relL2 } from '../../src/kernels/reference_math.js';

/** Indices of elements that are not finite (unwritten poison, or overflow). */
export function nonFinite(a: ArrayLike<number>, limit = 5): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length && out.length < limit; i++) if (!Number.isFinite(a[i])) out.push(i);
  return out;
}

/** Describes a comparison for a failure message: error, tolerance, seed and first bad elements. */
export function report(what: string, err: number, tol: number, seed: number, got: ArrayLike<number>): string {
  const bad = nonFinite(got);
  return `${what}: relative L2 error ${err.toExponential(3)} (tolerance ${tol}), seed ${seed} (replay with WEBVIT_SEED=${seed})` +
    (bad.length ? `; non-finite (unwritten?) elements at ${bad.join(', ')}` : '');
}

/**
 * Asserts err ≤ tol with a message carrying the seed, and logs the measured error so test output
 * records the worst error per kernel (set WEBVIT_QUIET=1 to silence).
 */
export function expectWithin(what: string, err: number, tol: number, seed: number, got: ArrayLike<number>): void {
  if (!process.env.WEBVIT_QUIET) console.log(`[error] ${what}: ${err.toExponential(3)} (tol ${tol})`);
  if (!(err <= tol)) throw new Error(report(what, err, tol, seed, got));
}
