// tools/knn.mjs (the kNN of tools/knn_fashion_mnist.mjs) against a float64 brute force: every
// similarity, sorted, the k nearest voted on. Seeded random data; a failure names its seed.
import { describe, expect, it } from 'vitest';
import { knnClassify, normalise } from '../../tools/knn.mjs';

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The specification, plainly: float64 similarities, all sorted, the k nearest voted on. */
function bruteForce(gallery: Float32Array, labels: ArrayLike<number>, queries: Float32Array, dim: number, ks: number[]) {
  const G = Float64Array.from(gallery);
  const Q = Float64Array.from(queries);
  const ng = G.length / dim;
  const nq = Q.length / dim;
  const predictions = ks.map(() => new Int32Array(nq));
  const neighbours: number[][] = [];
  for (let q = 0; q < nq; q++) {
    const all = Array.from({ length: ng }, (_, g) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += Q[q * dim + d] * G[g * dim + d];
      return { g, s };
    });
    all.sort((x, y) => y.s - x.s || x.g - y.g);
    neighbours.push(all.map((n) => n.g));
    ks.forEach((k, i) => {
      const tally = new Map<number, { votes: number; sum: number }>();
      for (const { g, s } of all.slice(0, k)) {
        const t = tally.get(labels[g]) ?? { votes: 0, sum: 0 };
        t.votes++;
        t.sum += s;
        tally.set(labels[g], t);
      }
      const ranked = [...tally.entries()].sort(([la, a], [lb, b]) => b.votes - a.votes || b.sum - a.sum || la - lb);
      predictions[i][q] = ranked[0][0];
    });
  }
  return { predictions, neighbours };
}

interface Case {
  seed: number;
  ng: number;
  nq: number;
  dim: number;
  classes: number;
  ks: number[];
  /** Small integers instead of uniform floats: many exactly equal similarities and sums. */
  integers: boolean;
  /** Class weights skewed: some classes have fewer members than k. */
  skewed: boolean;
  queryBlock?: number;
  galleryBlock?: number;
}

function makeCase(seed: number): Case {
  const r = rng(seed);
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const ng = pick([1, 2, 5, 13, 37, 64, 101]);
  const ks = [...new Set([1, Math.min(ng, 5), Math.min(ng, 10), Math.min(ng, 1 + Math.floor(r() * ng)), ng])];
  return {
    seed,
    ng,
    nq: pick([1, 3, 4, 5, 11, 17]),
    dim: pick([1, 2, 3, 5, 8, 13]),
    classes: pick([1, 2, 3, 7, 10]),
    ks,
    integers: r() < 0.5,
    skewed: r() < 0.5,
    queryBlock: pick([undefined, 1, 3, 4, 6]),
    galleryBlock: pick([undefined, 1, 7, 16]),
  };
}

function data(c: Case) {
  const r = rng(c.seed ^ 0x9e3779b9);
  const value = () => (c.integers ? Math.floor(r() * 5) - 2 : 2 * r() - 1);
  const gallery = Float32Array.from({ length: c.ng * c.dim }, value);
  const queries = Float32Array.from({ length: c.nq * c.dim }, value);
  // Skewed: class l drawn with weight 2^-l, so the last classes have one member or none.
  const labels = Int32Array.from({ length: c.ng }, () => {
    if (!c.skewed) return Math.floor(r() * c.classes);
    let l = 0;
    while (l < c.classes - 1 && r() < 0.5) l++;
    return l;
  });
  return { gallery, queries, labels };
}

function check(c: Case, normalised: boolean) {
  const d = data(c);
  const gallery = normalised ? normalise(d.gallery, c.dim) : d.gallery;
  const queries = normalised ? normalise(d.queries, c.dim) : d.queries;
  const got = knnClassify(gallery, d.labels, queries, c.dim, c.ks, { queryBlock: c.queryBlock, galleryBlock: c.galleryBlock });
  const want = bruteForce(gallery, d.labels, queries, c.dim, c.ks);
  const where = `seed ${c.seed} (${JSON.stringify({ ...c, seed: undefined })}, normalised ${normalised})`;
  for (let q = 0; q < c.nq; q++) {
    expect(Array.from(got.neighbours.subarray(q * got.maxK, (q + 1) * got.maxK)), `${where}: neighbours of query ${q}`).toEqual(want.neighbours[q].slice(0, got.maxK));
  }
  c.ks.forEach((k, i) => expect(Array.from(got.predictions[i]), `${where}: predictions for k = ${k}`).toEqual(Array.from(want.predictions[i])));
}

describe('knnClassify', () => {
  it('agrees with a float64 brute force: 37 gallery rows, 11 queries, dim 5', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const c: Case = { seed, ng: 37, nq: 11, dim: 5, classes: 7, ks: [1, 5, 10, 37], integers: seed % 2 === 0, skewed: seed % 3 !== 0 };
      check(c, true);
      check(c, false);
    }
  });

  it('agrees with a float64 brute force on random sizes, block sizes, ties and skewed classes', () => {
    for (let seed = 100; seed < 400; seed++) check(makeCase(seed), seed % 2 === 0);
  });

  it('breaks a tie in votes by the summed similarity, even against the nearest', () => {
    // Query (1, 0): the similarity of (x, y) is x. Label 2 nearest (0.75), but labels 1 and 2 each
    // have two of the four nearest, and label 1's sum is larger (0.625 + 0.5 > 0.75 + 0.25).
    const gallery = new Float32Array([0.75, 0, 0.625, 0, 0.5, 0, 0.25, 0, -1, 0]);
    const labels = [2, 1, 1, 2, 0];
    const r = knnClassify(gallery, labels, new Float32Array([1, 0]), 2, [1, 2, 4]);
    expect(r.predictions.map((p) => p[0])).toEqual([2, 2, 1]);
  });

  it('breaks a tie in votes and summed similarity by the smallest label', () => {
    // Three labels, one neighbour each, all at similarity 0.5.
    const gallery = new Float32Array([0.5, 0, 0.5, 0, 0.5, 0]);
    const r = knnClassify(gallery, [3, 1, 2], new Float32Array([1, 0]), 2, [1, 3]);
    // k = 1: of equal similarities the first gallery row is the nearest.
    expect(r.predictions.map((p) => p[0])).toEqual([3, 1]);
    expect(Array.from(r.neighbours)).toEqual([0, 1, 2]);
  });

  it('keeps the earlier gallery row when the k-th and (k+1)-th are equally similar', () => {
    const gallery = new Float32Array([0.25, 0.75, 0.5, 0.5, 0.5, 0.25]);
    const labels = [0, 1, 2, 3, 4, 5];
    // Similarities 0.25, 0.75, 0.5, 0.5, 0.5, 0.25: rows 2, 3 and 4 tie at 0.5, and with k = 3 only
    // rows 2 and 3 of them are among the nearest (similarity descending, then gallery index).
    const r = knnClassify(gallery, labels, new Float32Array([1]), 1, [2, 3]);
    expect(Array.from(r.neighbours)).toEqual([1, 2, 3]);
    expect(Array.from(r.similarities)).toEqual([0.75, 0.5, 0.5]);
    expect(r.predictions.map((p) => p[0])).toEqual([1, 1]);
  });

  it('takes k larger than a class: the majority of the k nearest wins', () => {
    // Class 0 has one member, the nearest; class 1 has four further away.
    const gallery = new Float32Array([1, 0.5, 0.5, 0.5, 0.5]);
    const r = knnClassify(gallery, [0, 1, 1, 1, 1], new Float32Array([1]), 1, [1, 2, 3, 5]);
    expect(r.predictions.map((p) => p[0])).toEqual([0, 0, 1, 1]);
  });

  it('refuses k beyond the gallery, ragged rows and non-finite values', () => {
    const g = new Float32Array([1, 0, 0, 1]);
    expect(() => knnClassify(g, [0, 1], new Float32Array([1, 0]), 2, [3])).toThrow(/k = 3/);
    expect(() => knnClassify(g, [0, 1], new Float32Array([1, 0]), 2, [0])).toThrow(/k = 0/);
    expect(() => knnClassify(g, [0], new Float32Array([1, 0]), 2, [1])).toThrow(/1 gallery labels for 2/);
    expect(() => knnClassify(g, [0, 1], new Float32Array([1, 0, 0]), 2, [1])).toThrow(/whole rows/);
    expect(() => knnClassify(g, [0, 1.5], new Float32Array([1, 0]), 2, [1])).toThrow(/label 1/);
    expect(() => knnClassify(g, [0, 1], new Float32Array([NaN, 0]), 2, [1])).toThrow(/finite/);
  });
});

describe('normalise', () => {
  it('scales each row to unit length, leaves zero rows and its input alone', () => {
    const r = rng(7);
    const dim = 5;
    const x = Float32Array.from({ length: 12 * dim }, () => 4 * r() - 2);
    x.fill(0, 3 * dim, 4 * dim);
    const before = x.slice();
    const y = normalise(x, dim);
    expect(x).toEqual(before);
    for (let row = 0; row < 12; row++) {
      let n = 0;
      for (let d = 0; d < dim; d++) n += y[row * dim + d] ** 2;
      if (row === 3) expect(n).toBe(0);
      else expect(Math.abs(Math.sqrt(n) - 1), `seed 7, row ${row}`).toBeLessThan(1e-6);
      // Same direction: each value is the input's times one positive factor.
      const f = y[row * dim] / x[row * dim];
      for (let d = 0; d < dim && row !== 3; d++) expect(y[row * dim + d]).toBeCloseTo(x[row * dim + d] * f, 6);
    }
  });
});
