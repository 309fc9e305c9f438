/** Relative L2 error ‖got − want‖ / ‖want‖; NaN (poison left in place) makes it Infinity. */
export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length mismatch: got ${got.length}, want ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    if (!Number.isFinite(g)) return Infinity;
    num += (g - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(Math.max(den, 1e-300));
}

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
