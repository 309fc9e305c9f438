import { describe, expect, it } from 'vitest';
import { topk } from '../../src/kernels/topk/op.js';
import { softmaxRows, topK } from '../../src/model/topk.js';
import { expectWebvitError } from '../helpers/errors.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// topk on the GPU against what classify did on the CPU before (src/model/topk.ts: topK's order,
// softmaxRows in float64). test/kernels/ops.test.ts runs it against its float64 reference on the
// definition's shapes; here every probability is checked on its own, and the edge cases.

async function gpuTopK(logits: Float32Array, rows: number, n: number, k: number): Promise<{ index: number; p: number }[][]> {
  const device = await testDevice();
  const out = (await runDispatch(device, (b) => topk({ label: 'test.topk', rows, n, k, logits: b.logits, out: b.out }), { inputs: { logits }, outputs: { out: 2 * rows * k } })).out;
  return Array.from({ length: rows }, (_, r) => Array.from({ length: k }, (_, j) => ({ index: out[2 * (r * k + j)], p: out[2 * (r * k + j) + 1] })));
}

/**
 * Probabilities to float32 precision: |p − p₆₄| ≤ (4 + |x − max|)·2⁻²³·p₆₄ + 1e-12. float32
 * rounding of p and the sum of ≤ 1000 terms cost a few ULP; exp in float32 computes
 * 2^((x − max)·log₂e), and the rounding of that product alone moves the result by |x − max|
 * ULP-relative (WGSL allows 3 + 2·|x| ULP), so small probabilities carry more. 1e-12 absolute
 * covers probabilities near float32's smallest normals.
 */
const ULP = 2 ** -23;
const P_ABS = 1e-12;
const pTol = (p64: number, dx: number) => (4 + Math.abs(dx)) * ULP * p64 + P_ABS;

describe('topk on the GPU equals classify’s CPU softmax and top-K', () => {
  for (const [rows, n, k, scale, ties] of [
    [8, 1000, 5, 3, false],
    [3, 1000, 1000, 3, false],
    [16, 10, 10, 4, false],
    [6, 100, 20, 1, true],
    [4, 1000, 5, 30, false], // spread logits: probabilities down to 1e-30 and below
  ] as const) {
    it(`${rows} rows × ${n} classes, top ${k}${ties ? ', rounded logits (ties)' : ''}, logits × ${scale}`, async () => {
      const seed = freshSeed();
      const logits = randn(rng(seed), rows * n, scale);
      if (ties) for (let i = 0; i < logits.length; i++) logits[i] = Math.round(logits[i]);
      const got = await gpuTopK(logits, rows, n, k);
      const cpu = topK(logits, n, k);
      const p = softmaxRows(logits, n);
      let worst = 0;
      for (let r = 0; r < rows; r++) {
        expect(got[r].map((e) => e.index), `row ${r}, seed ${seed}`).toEqual(cpu[r].map((e) => e.index));
        for (const e of got[r]) {
          const want = p[r * n + e.index];
          const err = Math.abs(e.p - want);
          const dx = logits[r * n + e.index] - logits[r * n + cpu[r][0].index];
          worst = Math.max(worst, err / pTol(want, dx));
          expect(err, `row ${r} class ${e.index}: GPU ${e.p}, float64 ${want}, x − max ${dx}, seed ${seed}`).toBeLessThanOrEqual(pTol(want, dx));
        }
      }
      console.log(`[topk] ${rows}×${n} top ${k}: worst probability error ${worst.toFixed(2)} of its tolerance (4 + |x − max|) ULP`);
    });
  }

  it('NaN and ±Inf: the row’s probabilities are NaN, NaN ranks below −Inf, other rows untouched; −0 equals +0', async () => {
    const n = 6;
    const logits = new Float32Array([
      1, NaN, 3, -Infinity, 2, NaN, // row 0: NaN
      0, Infinity, 5, -1, 5, 2, // row 1: +Inf
      -0, 0, -1, 1, 0, -0, // row 2: signed zeros tie by index
    ]);
    const got = await gpuTopK(logits, 3, n, 6);
    expect(got[0].map((e) => e.index)).toEqual([2, 4, 0, 3, 1, 5]);
    expect(got[0].every((e) => Number.isNaN(e.p))).toBe(true);
    expect(got[1].map((e) => e.index)).toEqual([1, 2, 4, 5, 0, 3]);
    expect(got[1].every((e) => Number.isNaN(e.p))).toBe(true);
    expect(got[2].map((e) => e.index)).toEqual([3, 0, 1, 4, 5, 2]);
    const p = softmaxRows(logits.subarray(12), n);
    for (const e of got[2]) expect(Math.abs(e.p - p[e.index])).toBeLessThanOrEqual(pTol(p[e.index], logits[12 + e.index] - 1));
    // The CPU order (src/model/topk.ts) is the same, NaN included.
    expect(topK(logits, n, 6).map((r) => r.map((e) => e.index))).toEqual(got.map((r) => r.map((e) => e.index)));
  });

  it('refuses K above the number of classes, and zero sizes, naming the numbers', async () => {
    const b = { buffer: {} as GPUBuffer };
    await expectWebvitError(() => topk({ label: 'test.topk', rows: 2, n: 10, k: 11, logits: b, out: b }), 'BAD_ARGUMENT', ['K = 11', '10 classes', 'at most 10']);
    await expectWebvitError(() => topk({ label: 'test.topk', rows: 0, n: 10, k: 1, logits: b, out: b }), 'BAD_ARGUMENT', ['rows', 'got 0']);
    await expectWebvitError(() => topk({ label: 'test.topk', rows: 1, n: 10, k: 0, logits: b, out: b }), 'BAD_ARGUMENT', ['K', 'got 0']);
  });
});
