import { describe, expect, it } from 'vitest';
import { similarity } from '../../src/model/similarity.js';
import { WebvitError } from '../../src/runtime/errors.js';

// similarity(a, b): cosine similarity of two embeddings, against a plain float64 formula on seeded
// random vectors, plus the hostile inputs round seven found (a Proxy whose length is Infinity hung).
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0, x = 0, y = 0;
  for (let i = 0; i < a.length; i++) (d += a[i] * b[i]), (x += a[i] * a[i]), (y += b[i] * b[i]);
  return d / Math.sqrt(x * y);
};
const refused = (f: () => unknown, fragment: string) => {
  let e: unknown;
  try {
    f();
  } catch (err) {
    e = err;
  }
  expect(e, fragment).toBeInstanceOf(WebvitError);
  expect((e as WebvitError).code).toBe('BAD_ARGUMENT');
  expect((e as WebvitError).message).toContain(fragment);
};

describe('similarity', () => {
  it('equals the float64 cosine on seeded random embeddings of awkward widths (1, 7, 197, 1000), within 1e-12', () => {
    const seed = Date.now() % 100000;
    const r = rng(seed);
    for (const n of [1, 7, 197, 1000]) {
      const a = Float32Array.from({ length: n }, r);
      const b = Float32Array.from({ length: n }, r);
      expect(Math.abs(similarity(a, b) - cosine(a, b)), `seed ${seed}, width ${n}`).toBeLessThan(1e-12);
      expect(similarity(a, a), `seed ${seed}`).toBeCloseTo(1, 12);
      expect(similarity(a, Float32Array.from(a, (v) => -v))).toBeCloseTo(-1, 12);
    }
  });
  it('tiny and huge values neither underflow to 0 nor overflow (1e-200, 1e200); an all-zero embedding gives 0', () => {
    expect(similarity([1e-200], [1e-200])).toBe(1);
    expect(similarity([1e200, 1], [1e200, 1])).toBe(1);
    expect(similarity([0, 0], [1, 2])).toBe(0);
  });
  it('refuses what is not an embedding: different widths, empty, DataView, NaN, Symbols, a Proxy with an endless length (it hung)', () => {
    refused(() => similarity(new Float32Array(3), new Float32Array(4)), 'different widths (3 and 4)');
    refused(() => similarity([], []), 'not empty');
    refused(() => similarity(new DataView(new ArrayBuffer(8)) as never, new Float32Array(2)), 'must be an embedding');
    refused(() => similarity([NaN], [1]), 'NaN');
    refused(() => similarity([Symbol() as never], [1]), 'a non-number');
    // Round eight: null, strings and objects with valueOf were taken as numbers (null as 0: similarity([1, null], [1, 2]) was 0.447).
    for (const v of [null, '1', { valueOf: () => 3 }, undefined, true, 2n]) refused(() => similarity([1, v as never], [1, 2]), 'holds NaN, ±Infinity or a non-number');
    refused(() => similarity([1, 2], ['1', '2'] as never), 'b holds NaN, ±Infinity or a non-number');
    refused(() => similarity(null as never, [1]), 'must be an embedding');
    const endless = new Proxy([1, 2], { get: (t, k) => (k === 'length' ? Infinity : t[k as never]) });
    refused(() => similarity(endless, endless), 'must be an embedding');
  });
});
