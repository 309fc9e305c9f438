import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { patchFilterComponents, positionSimilarity, type ModelWeights } from '../../src/model/analysis.js';
import { symmetricEigen } from '../../src/model/symmetric_eigen.js';
import { parseConfig, shapeOf, type ViTConfig } from '../../src/model/config.js';
import { readWeights } from '../../src/model/weights.js';
import { WebvitError } from '../../src/errors.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// The model-only analyses (src/model/analysis.ts) and the symmetric eigen solver under the filter
// components, in float64. Tolerances: the solver's results are exact up to rounding, ~1e-13
// relative for these sizes; 1e-9 leaves room and still fails on any wrong rotation or sign.

/** `count` orthonormal random rows of length n (all n: a random orthogonal matrix): Gram–Schmidt (twice, for stability) of Gaussian rows. */
function randomOrthogonal(n: number, rand: () => number, count = n): Float64Array[] {
  const rows: Float64Array[] = [];
  while (rows.length < count) {
    const v = Float64Array.from(randn(rand, n));
    for (let pass = 0; pass < 2; pass++) {
      for (const q of rows) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[i] * q[i];
        for (let i = 0; i < n; i++) v[i] -= dot * q[i];
      }
    }
    const norm = Math.hypot(...v);
    if (norm < 1e-6) continue;
    rows.push(v.map((x) => x / norm));
  }
  return rows;
}

/** Q·diag(λ)·Qᵀ with Q's rows as the eigenvectors (row-major n×n). */
function compose(q: Float64Array[], lambda: number[]): Float64Array {
  const n = q.length;
  const a = new Float64Array(n * n);
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += lambda[k] * q[k][i] * q[k][j];
  return a;
}

/** max |A·v − λ·v| over all pairs, relative to the largest |λ| (or 1). */
function residual(a: Float64Array, n: number, values: Float64Array, vectors: Float64Array[]): number {
  let worst = 0;
  const scale = Math.max(1, ...Array.from(values, Math.abs));
  vectors.forEach((v, j) => {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[i * n + k] * v[k];
      worst = Math.max(worst, Math.abs(av - values[j] * v[i]) / scale);
    }
  });
  return worst;
}

function orthonormalityError(vectors: Float64Array[]): number {
  let worst = 0;
  for (let i = 0; i < vectors.length; i++) {
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let k = 0; k < vectors[i].length; k++) dot += vectors[i][k] * vectors[j][k];
      worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

describe('symmetricEigen (Householder + implicit QL, float64)', () => {
  it('recovers known spectra of random symmetric matrices (distinct, repeated, zero and negative eigenvalues)', () => {
    for (const n of [1, 2, 3, 5, 17, 64, 150]) {
      const seed = freshSeed();
      const rand = rng(seed);
      const q = randomOrthogonal(n, rand);
      // Repeated values (a block of three 2.5s), zeros and negatives: the cases a covariance of few filters has.
      const lambda = Array.from({ length: n }, (_, i) => (i % 7 === 3 ? 0 : i % 5 === 1 ? 2.5 : 10 * (rand() - 0.3)));
      const a = compose(q, lambda);
      const { values, vectors } = symmetricEigen(a, n);
      const want = [...lambda].sort((x, y) => y - x);
      const where = `n ${n}, seed ${seed} (replay with WEBVIT_SEED=${seed})`;
      values.forEach((v, i) => expect(Math.abs(v - want[i]), `eigenvalue ${i}, ${where}`).toBeLessThan(1e-9 * Math.max(1, Math.abs(want[i]))));
      expect(residual(a, n, values, vectors), `‖Av − λv‖, ${where}`).toBeLessThan(1e-9);
      expect(orthonormalityError(vectors), `VᵀV − I, ${where}`).toBeLessThan(1e-9);
      // A distinct eigenvalue's vector is the known one up to sign.
      for (let i = 0; i < n; i++) {
        const gap = Math.min(...want.filter((_, j) => j !== i).map((w) => Math.abs(w - want[i])), Infinity);
        if (gap < 1e-3) continue;
        const k = lambda.indexOf(want[i]);
        const dot = vectors[i].reduce((s, x, m) => s + x * q[k][m], 0);
        expect(Math.abs(Math.abs(dot) - 1), `eigenvector ${i}, ${where}`).toBeLessThan(1e-9);
      }
    }
  });

  it('diagonal and zero matrices, and the analytic 2×2', () => {
    const diag = symmetricEigen(Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 7]), 3);
    expect(Array.from(diag.values)).toEqual([7, 3, -1]);
    expect(diag.vectors.map((v) => Array.from(v, Math.abs))).toEqual([
      [0, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const zero = symmetricEigen(new Float64Array(16), 4);
    expect(Array.from(zero.values)).toEqual([0, 0, 0, 0]);
    expect(orthonormalityError(zero.vectors)).toBeLessThan(1e-15);
    // [[2, 1], [1, 2]]: 3 along (1, 1)/√2, 1 along (1, −1)/√2.
    const two = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
    expect(two.values[0]).toBeCloseTo(3, 14);
    expect(two.values[1]).toBeCloseTo(1, 14);
    expect(Math.abs(two.vectors[0][0] * Math.SQRT2)).toBeCloseTo(1, 14);
    expect(two.vectors[0][0] * two.vectors[0][1]).toBeGreaterThan(0);
    expect(two.vectors[1][0] * two.vectors[1][1]).toBeLessThan(0);
  });

  it('refuses a non-finite value or a wrong size with BAD_ARGUMENT instead of looping', () => {
    expect(() => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow(/not finite/);
    expect(() => symmetricEigen(new Float64Array(5), 2)).toThrow(WebvitError);
  });
});

/** A config and random tensors for the two analyses (only the tensors they read). */
function randomWeights(overrides: Partial<ViTConfig>, seed: number): ModelWeights {
  const config = parseConfig(
    { image_size: 32, patch_size: 8, num_channels: 3, hidden_size: 40, num_layers: 1, num_heads: 2, mlp_size: 16, num_classes: 3, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls', ...overrides },
    'test',
  );
  const s = shapeOf(config);
  const rand = rng(seed);
  return {
    config,
    tensors: new Map([
      ['pos_embed', randn(rand, s.tokens * config.hidden_size, 0.5)],
      ['patch_embed.weight', randn(rand, s.patchInner * config.hidden_size, 0.1)],
    ]),
  };
}

describe('positionSimilarity', () => {
  it('is the cosine of every pair of patch rows of pos_embed (prefix rows dropped), checked against a direct float64 sum', () => {
    for (const overrides of [{}, { class_token: false, pooling: 'mean' as const }, { distilled: true }, { image_size: 28, patch_size: 7, num_channels: 1 }]) {
      const seed = freshSeed();
      const w = randomWeights(overrides, seed);
      const s = shapeOf(w.config);
      const D = w.config.hidden_size;
      const pos = w.tensors.get('pos_embed')!;
      // Poison the prefix rows: a result that read them would show it.
      pos.fill(1e30, 0, s.prefixTokens * D);
      const { grid, similarity } = positionSimilarity(w);
      const N = grid * grid;
      expect(grid).toBe(s.grid);
      expect(similarity.length).toBe(N * N);
      const row = (i: number) => Array.from(pos.subarray((s.prefixTokens + i) * D, (s.prefixTokens + i + 1) * D));
      let worst = 0;
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < N; j++) {
          const a = row(i);
          const b = row(j);
          const cos = a.reduce((t, x, k) => t + x * b[k], 0) / (Math.hypot(...a) * Math.hypot(...b));
          worst = Math.max(worst, Math.abs(similarity[i * N + j] - cos));
        }
      }
      expect(worst, `max |S − cos|, seed ${seed}, ${JSON.stringify(overrides)}`).toBeLessThan(1e-6); // float32 output
      for (let i = 0; i < N; i++) expect(similarity[i * N + i]).toBeCloseTo(1, 6);
    }
  });

  it('orthogonal embeddings give the identity; a zero row is 0 everywhere (not NaN)', () => {
    const w = randomWeights({ image_size: 16, patch_size: 8 }, 1); // G 2, N 4, class token
    const pos = w.tensors.get('pos_embed')!.fill(0);
    const D = w.config.hidden_size;
    for (let i = 0; i < 3; i++) pos[(1 + i) * D + i] = 2 + i; // patch i along axis i; patch 3 all zero
    const { similarity } = positionSimilarity(w);
    expect(Array.from(similarity)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('names a missing or wrongly sized tensor', () => {
    const w = randomWeights({}, 2);
    w.tensors.set('pos_embed', new Float32Array(3));
    expect(() => positionSimilarity(w)).toThrow(/pos_embed has 3 values, the config calls for/);
    w.tensors.delete('pos_embed');
    expect(() => positionSimilarity(w)).toThrow(/pos_embed is missing/);
  });
});

describe('patchFilterComponents', () => {
  it('recovers planted principal directions and their variance shares, largest-|x| element positive', () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const w = randomWeights({ image_size: 16, patch_size: 4, num_channels: 3, hidden_size: 400 }, seed); // C·p·p = 48, D = 400
    const M = 48;
    const D = 400;
    // Filters = mean filter + Σ_j a_dj·u_j: three orthonormal directions with variances 9 : 4 : 1,
    // coefficients centred and scaled exactly so that the sample covariance is diagonal in u.
    const u = randomOrthogonal(M, rand, 3);
    const variances = [9, 4, 1];
    // Coefficients: orthonormal rows, each orthogonal to the constant vector (so centred).
    const ones = Float64Array.from({ length: D }, () => 1 / Math.sqrt(D));
    const centred = orthonormalAgainst(randomOrthogonal(D, rand, 3), ones);
    const weight = new Float32Array(M * D);
    const mean = randn(rand, M, 3);
    for (let m = 0; m < M; m++) {
      for (let d = 0; d < D; d++) {
        let x = mean[m];
        for (let j = 0; j < 3; j++) x += u[j][m] * centred[j][d] * Math.sqrt(D * variances[j]);
        weight[m * D + d] = x;
      }
    }
    w.tensors.set('patch_embed.weight', weight);
    const r = patchFilterComponents(w, 5);
    expect(r.components).toHaveLength(5);
    expect(r.patchSize).toBe(4);
    expect(r.channels).toBe(3);
    const where = `seed ${seed} (replay with WEBVIT_SEED=${seed})`;
    // Float32 weights: the planted structure holds to ~1e-7 relative.
    r.varianceRatio.slice(0, 3).forEach((v, j) => expect(v, `ratio ${j}, ${where}`).toBeCloseTo(variances[j] / 14, 5));
    r.varianceRatio.slice(3).forEach((v) => expect(v).toBeLessThan(1e-10));
    for (let j = 0; j < 3; j++) {
      const c = r.components[j];
      const dot = Array.from(c).reduce((t, x, m) => t + x * u[j][m], 0);
      expect(Math.abs(Math.abs(dot) - 1), `component ${j} against the planted direction, ${where}`).toBeLessThan(1e-5);
      const at = Array.from(c, Math.abs).indexOf(Math.max(...Array.from(c, Math.abs)));
      expect(c[at], `component ${j}: its largest-|x| element is positive`).toBeGreaterThan(0);
      expect(Math.hypot(...c)).toBeCloseTo(1, 6);
    }
  });

  it('k = min(k, C·p·p, D); the variance ratios of all components sum to 1', () => {
    const w = randomWeights({ image_size: 16, patch_size: 2, num_channels: 1, hidden_size: 16, num_heads: 2 }, freshSeed()); // C·p·p 4
    const r = patchFilterComponents(w);
    expect(r.components).toHaveLength(4);
    expect(r.varianceRatio.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    for (let i = 1; i < 4; i++) expect(r.varianceRatio[i]).toBeLessThanOrEqual(r.varianceRatio[i - 1]);
    const narrow = randomWeights({ image_size: 16, patch_size: 4, hidden_size: 8, num_heads: 2 }, 3); // D 8 < C·p·p 48
    expect(patchFilterComponents(narrow, 28).components).toHaveLength(8);
    // Every component's sign: its largest-|x| element positive (28 random ones: a sign left to the solver fails).
    const wide = patchFilterComponents(randomWeights({ image_size: 16, patch_size: 4 }, freshSeed()));
    expect(wide.components).toHaveLength(28);
    for (const c of wide.components) {
      const abs = Array.from(c, Math.abs);
      expect(c[abs.indexOf(Math.max(...abs))]).toBeGreaterThan(0);
    }
    expect(() => patchFilterComponents(w, 0)).toThrow(/k must be a positive integer/);
  });

  it('identical filters (no variance): ratios 0, no NaN', () => {
    const w = randomWeights({ image_size: 16, patch_size: 2, num_channels: 1, hidden_size: 16, num_heads: 2 }, 4);
    w.tensors.get('patch_embed.weight')!.fill(0.25);
    const r = patchFilterComponents(w);
    expect(r.varianceRatio).toEqual([0, 0, 0, 0]);
    for (const c of r.components) expect(c.every(Number.isFinite)).toBe(true);
  });
});

/** rows orthonormalised (Gram–Schmidt) and made orthogonal to `against`. */
function orthonormalAgainst(rows: Float64Array[], against: Float64Array): Float64Array[] {
  const out: Float64Array[] = [];
  for (const r of rows) {
    const v = r.slice();
    for (const q of [against, ...out]) {
      const dot = v.reduce((t, x, i) => t + x * q[i], 0);
      for (let i = 0; i < v.length; i++) v[i] -= dot * q[i];
    }
    const n = Math.hypot(...v);
    out.push(v.map((x) => x / n));
  }
  return out;
}

// PyTorch's numbers for the fixtures (tools/make_explain_fixtures.py: float64 from the same float32
// weights; tiny and tiny_mean are committed, generated/vit_s16 comes from the set-up). Both sides
// are float64 computations of the same numbers, so they agree far below float32's resolution:
// similarity within 1e-6 (the float32 output's rounding), ratios within 1e-9, and each component's
// direction within 1e-6 wherever its eigenvalue is apart from its neighbours by more than 1e-7 of
// the total (vit_s16's random filters have gaps of ~1e-5; a nearly repeated eigenvalue leaves its
// vector undetermined), with the sign convention applied by both.
describe('against the PyTorch reference (explain.json next to a fixture)', () => {
  for (const name of ['tiny', 'tiny_mean', 'generated/vit_s16']) {
    const dir = join(import.meta.dirname, '..', 'fixtures', name);
    const file = join(dir, 'explain.json');
    it.skipIf(!existsSync(file) || !existsSync(join(dir, 'model.safetensors')))(`${name}: position similarity and filter components`, () => {
      const ref = JSON.parse(readFileSync(file, 'utf8')) as { position_similarity: number[]; filters: { components: number[][]; variance_ratio: number[] } };
      const weights = readWeights(readFileSync(join(dir, 'model.safetensors')), name);
      const sim = positionSimilarity(weights).similarity;
      expect(sim.length).toBe(ref.position_similarity.length);
      expect(Math.max(...Array.from(sim, (v, i) => Math.abs(v - ref.position_similarity[i])))).toBeLessThan(1e-6);
      const f = patchFilterComponents(weights);
      expect(f.components.length).toBe(ref.filters.components.length);
      const ratios = ref.filters.variance_ratio;
      f.varianceRatio.forEach((v, j) => expect(Math.abs(v - ratios[j]), `ratio ${j}`).toBeLessThan(1e-9));
      let compared = 0;
      f.components.forEach((c, j) => {
        const gap = Math.min(j > 0 ? ratios[j - 1] - ratios[j] : Infinity, j + 1 < ratios.length ? ratios[j] - ratios[j + 1] : Infinity);
        if (gap < 1e-7) return;
        compared++;
        const err = Math.max(...Array.from(c, (x, m) => Math.abs(x - ref.filters.components[j][m])));
        expect(err, `component ${j} (gap ${gap.toExponential(2)})`).toBeLessThan(1e-6);
      });
      expect(compared, 'components compared').toBeGreaterThan(f.components.length / 2);
    });
  }
});
