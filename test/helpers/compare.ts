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
 * A measured error, printed only with WEBVIT_VERBOSE=1 (`WEBVIT_VERBOSE=1 npx vitest run test/kernels`
 * lists the error of every kernel and case). A passing run stays quiet; a failing comparison says
 * its error in the failure message.
 */
export function logMeasured(line: string): void {
  if (process.env.WEBVIT_VERBOSE) console.log(`[measured] ${line}`);
}

/** Asserts err ≤ tol with a message carrying the seed; the measured error goes to logMeasured. */
export function expectWithin(what: string, err: number, tol: number, seed: number, got: ArrayLike<number>): void {
  logMeasured(`${what}: relative L2 error ${err.toExponential(3)} (tol ${tol})`);
  if (!(err <= tol)) throw new Error(report(what, err, tol, seed, got));
}
