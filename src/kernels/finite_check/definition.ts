import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { CHUNK, finiteCheck, finiteCheckChunks, FINITE_CHECK_VARIANTS, type FiniteCheckShape, type FiniteCheckVariant } from './op.js';

const BAD = [Number.NaN, Infinity, -Infinity];

/**
 * Seeded pixels with non-finite values planted in some images: none in the first (and in about a
 * third of the rest), otherwise one to three at random places, and on the awkward places — the
 * first and last value, both sides of a chunk boundary — where the shape has them. Several in one
 * image check that the first is the one reported.
 */
function sample({ batch, values }: FiniteCheckShape, r: () => number): Record<string, Float32Array> {
  const x = randn(r, batch * values, 3);
  // A few large values, so that the largest |value| is not always near the same 3σ.
  for (let j = 0; j < batch; j++) x[Math.floor(r() * x.length)] *= 1e3;
  const edges = [0, values - 1, CHUNK - 1, CHUNK, 2 * CHUNK + 7].filter((i) => i < values);
  for (let b = 1; b < batch; b++) {
    if (r() < 1 / 3) continue;
    const n = 1 + Math.floor(r() * 3);
    for (let j = 0; j < n; j++) {
      const i = r() < 0.5 ? edges[Math.floor(r() * edges.length)] : Math.floor(r() * values);
      x[b * values + i] = BAD[Math.floor(r() * BAD.length)];
    }
  }
  // The last image always has one, at a random place and of a random kind.
  if (batch > 1) x[(batch - 1) * values + Math.floor(r() * values)] = BAD[Math.floor(r() * BAD.length)];
  // Behind each image's first bad value, more on the same invocation's later loads (256 apart):
  // the invocation must keep its first hit, not its last.
  for (let b = 0; b < batch; b++) {
    const img = x.subarray(b * values, (b + 1) * values);
    const f = img.findIndex((v) => !Number.isFinite(v));
    if (f < 0) continue;
    for (const step of [256, 512]) if (f + step < values) img[f + step] = BAD[Math.floor(r() * BAD.length)];
  }
  return { x };
}

/** finite_check: the first NaN or ±Inf of each image of a forward pass's input, on the GPU. */
export const FINITE_CHECK: OpDefinition<FiniteCheckShape, FiniteCheckVariant, 'finite_check'> = {
  name: 'finite_check',
  variants: FINITE_CHECK_VARIANTS,
  defaultVariant: 'chunks',
  // Exact: a code (−1 or a whole number < 2^18) and a largest |value| (one of the inputs) per
  // chunk; any difference is a bug.
  tol: 0,
  sample,
  outputLength: ({ batch, values }) => 2 * batch * finiteCheckChunks(values),
  dispatch: (s, variant, b, { label }) => finiteCheck({ label, ...s, x: b.x, out: b.out, variant }),
};
