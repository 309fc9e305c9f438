import { describe, expect, it } from 'vitest';
import { codeAt, dequantize, quantize, rint, scaleAt, Q4_BLOCK, type QuantKind } from '../../src/kernels/matmul/quant.js';
import { halfToFloat } from '../../src/kernels/half.js';
import { freshSeed, rng } from '../helpers/random.js';

// The quantiser's own invariants; its codes are checked bit for bit against a float64 NumPy
// quantiser in test/convert (issue 21).
describe('weight quantisation layout (src/kernels/matmul/quant.ts)', () => {
  it('rint rounds ties to even, as NumPy does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -3.5001, 7].map(rint)).toEqual([0, 2, 2, -0, -2, -2, 2, -4, 7]);
  });

  for (const kind of ['int8', 'q4'] as QuantKind[]) {
    it(`${kind}: every value is within half a step of its scale, codes in range, awkward K and N`, () => {
      const seed = freshSeed();
      const rand = rng(seed);
      for (const [K, N] of [[1, 1], [33, 7], [70, 13], [197, 3]]) {
        const w = Float32Array.from({ length: K * N }, () => (rand() - 0.5) * 4);
        w[0] = 0; // a zero stays zero
        const q = quantize(w, K, N, kind);
        const d = dequantize(q);
        const hi = kind === 'int8' ? 127 : 7;
        for (let k = 0; k < K; k++) {
          for (let n = 0; n < N; n++) {
            const i = k * N + n;
            const s = scaleAt(q, k, n);
            const c = codeAt(q, i);
            expect(c, `seed ${seed} ${kind} [${K},${N}] code ${i}`).toBeLessThanOrEqual(hi);
            expect(c, `seed ${seed} ${kind} [${K},${N}] code ${i}`).toBeGreaterThanOrEqual(kind === 'int8' ? -127 : -8);
            // Half a step, but a q4 value near the negated extreme is clamped to +7: one step, and
            // the extreme's f16 scale may be rounded down by 2^-11 of itself, so up to 8 · 2^-11
            // of a step more (at -m · (1 + 2^-11), w / s reaches 8.004).
            const step = Math.abs(s) * (kind === 'q4' && c === 7 ? 1 + 2 ** -8 : 0.5 * (1 + 2 ** -10));
            expect(Math.abs(d[i] - w[i]), `seed ${seed} ${kind} [${K},${N}] value ${i}`).toBeLessThanOrEqual(step + 1e-12);
          }
        }
        expect(Math.abs(d[0])).toBe(0); // ±0: a zero's code is 0, its scale may be negative
      }
    });
  }

  it('q4: a block that is all zeros has scale 0; the block boundary is every 32 rows', () => {
    const K = Q4_BLOCK + 5;
    const N = 3;
    const w = new Float32Array(K * N);
    for (let k = Q4_BLOCK; k < K; k++) w[k * N + 1] = k; // only the second block of column 1
    const q = quantize(w, K, N, 'q4');
    expect(halfToFloat(q.scales[0 * N + 1])).toBe(0);
    expect(halfToFloat(q.scales[1 * N + 1])).toBeCloseTo(-(K - 1) / 8, 2); // the extreme is code -8: a negative scale for a positive extreme
    expect(codeAt(q, (K - 1) * N + 1)).toBe(-8);
    expect(codeAt(q, Q4_BLOCK * N + 1)).toBe(rint(Q4_BLOCK / halfToFloat(q.scales[1 * N + 1])));
    expect(q.codes.length).toBe(Math.ceil((K * N) / 2));
  });

  it('refuses a value that is not finite, naming it', () => {
    expect(() => quantize(new Float32Array([1, NaN]), 1, 2, 'int8', 'fc1')).toThrow(/fc1: holds NaN at flat index 1/);
  });
});
