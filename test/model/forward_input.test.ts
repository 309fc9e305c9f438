import { afterAll, describe, expect, it } from 'vitest';
import { shapeOf } from '../../src/model/config.js';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { firstNonFinite } from '../../src/model/finite.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// What forward() does with its input: it takes the pixels when it is called (a caller may refill
// its buffer as soon as forward() returns its promise), it refuses NaN and ±Inf by image and
// position, and it refuses logits that came out non-finite anyway (weights or inputs so large that
// float32 overflows) instead of returning NaN as if it were an answer.
// Comparisons between two forwards of the same input on the same plan are bitwise; against the
// PyTorch golden logits the golden test's 1e-4 (max |logit − golden| / max |golden|).
const TOL = 1e-4;
const f = loadFixture('tiny');
const weights = () => readWeights(f.model, 'tiny');
const per = shapeOf(weights().config).imageValues; // 3·32·32 = 3072
const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});
async function load(label: string, batch = 1, w = weights()): Promise<ViTModel> {
  const m = await ViTModel.fromWeights(await testDevice(), w, { label, batch });
  models.push(m);
  return m;
}

describe('forward() takes its input at call time', () => {
  const seed = freshSeed();
  const rand = rng(seed);
  const a = randn(rand, 2 * per);
  const b = randn(rand, 2 * per);

  // The buffer is refilled right after the call, before the queued run has started: the result
  // must be A's, bit for bit. Three timings: the plan for this batch not built yet (the run waits
  // for pipelines), a run queued behind another one, and the plan ready and idle.
  it(`refilling the buffer after forward() does not change its result (seed ${seed})`, async () => {
    const model = await load('tiny.capture');
    const expectA = (await model.forward(a, { batch: 2 })).logits; // builds the batch-2 plan
    const expectB = (await model.forward(b, { batch: 2 })).logits;
    expect(expectA).not.toEqual(expectB);

    const fresh = await load('tiny.capture.fresh'); // batch 1 plan only: batch 2 is built on the call
    const buf = a.slice();
    const p1 = fresh.forward(buf, { batch: 2 });
    buf.set(b);
    expect((await p1).logits, `seed ${seed}: plan not built yet`).toEqual(expectA);

    buf.set(a);
    const busy = model.forward(b, { batch: 2 });
    const p2 = model.forward(buf, { batch: 2 });
    buf.set(b);
    expect((await busy).logits).toEqual(expectB);
    expect((await p2).logits, `seed ${seed}: queued behind another run`).toEqual(expectA);

    buf.set(a);
    const p3 = model.forward(buf, { batch: 2 });
    buf.fill(0);
    expect((await p3).logits, `seed ${seed}: plan idle`).toEqual(expectA);

    buf.set(a);
    const p4 = model.profile(buf, { batch: 2 });
    buf.set(b);
    expect((await p4).result.logits, `seed ${seed}: profile()`).toEqual(expectA);
  });

  it('the golden images still give the golden logits', async () => {
    const model = await load('tiny.capture.golden', 3);
    const buf = f.input.slice();
    const p = model.forward(buf);
    buf.fill(Number.NaN); // would fail the finite check if it were read now
    expect(maxRelError((await p).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });
});

describe('non-finite input is refused, naming the image and the value', () => {
  // Value v of an image is (channel, row, column) = (v / S², (v / S) % S, v % S), S = 32.
  for (const [what, value] of [['NaN', Number.NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    it(`${what} in image 1 of 3`, async () => {
      const model = await load(`tiny.nonfinite.${what}`, 3);
      const x = f.input.slice();
      const v = 2 * 1024 + 5 * 32 + 7; // channel 2, row 5, column 7
      x[per + v] = value;
      x[2 * per + 11] = value; // a second bad image: the first one is named, the other listed
      await expectWebvitError(() => model.forward(x), 'BAD_INPUT', [`image 1 of 3`, `value ${v}`, 'channel 2, row 5, column 7', what, 'image 2 of 3 also hold']);
      await expectWebvitError(() => model.profile(x), 'BAD_INPUT', [`image 1 of 3`, `value ${v}`]);
      // The model still works afterwards.
      expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
    });
  }

  // forward() and profile() check on the GPU (op finite_check); explain() scans its copy on the
  // CPU first with firstNonFinite, which must stay one cheap pass. Measured on ViT-B/16's batch-32
  // input size (4.8 M values); the bound is loose for a busy machine.
  it('costs little: a 4.8 M-value input is scanned in well under a second, the last value found', () => {
    const big = new Float32Array(32 * 3 * 224 * 224).fill(0.5);
    big[big.length - 1] = Number.NaN; // the last value: the whole input is scanned
    const t0 = performance.now();
    expect(firstNonFinite(big)).toBe(big.length - 1);
    const ms = performance.now() - t0;
    console.log(`finite check of ${big.length} values (incl. locating the bad one): ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1000);
  });

  it('a bad value found while the GPU ran: that result is discarded, the next run is right', async () => {
    const model = await load('tiny.nonfinite.overlap', 3);
    const x = f.input.slice();
    x[3 * per - 1] = Number.NaN; // the very last value of the last image
    const bad = model.forward(x);
    const good = model.forward(f.input); // queued behind the bad one on the same plan
    await expectWebvitError(() => bad, 'BAD_INPUT', ['image 2 of 3', `value ${per - 1}`, 'NaN']);
    expect(maxRelError((await good).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });
});

describe('forward() stages its input into the plan, or copies it', () => {
  // The first calls on a built plan fill its two staging buffers (one copy, at call time); calls
  // made while both are held by queued runs fall back to a copy of the array. Either way each
  // result is that of the pixels given at its call, and the finite check runs on the GPU.
  it('six calls queued at once, the buffer refilled after each: every result is its own input\'s', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const model = await load('tiny.staging', 2);
    const inputs = Array.from({ length: 6 }, () => randn(rand, 2 * per));
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await model.forward(x)).logits);
    const buf = new Float32Array(2 * per);
    const pending = inputs.map((x) => {
      buf.set(x);
      const p = model.forward(buf);
      buf.fill(Number.NaN); // read now, it would fail the check
      return p;
    });
    const got = await Promise.all(pending);
    got.forEach((r, i) => expect(r.logits, `seed ${seed}: call ${i}`).toEqual(expected[i]));
  });

  it('a NaN reaches the GPU check on both paths: staged (plan built) and copied (plan built by the call)', async () => {
    const model = await load('tiny.staging.nan', 3);
    const x = f.input.slice();
    x[per + 100] = Number.NaN;
    await expectWebvitError(() => model.forward(x), 'BAD_INPUT', ['image 1 of 3', 'value 100', 'NaN']);
    const two = x.subarray(0, 2 * per);
    await expectWebvitError(() => model.forward(two, { batch: 2 }), 'BAD_INPUT', ['image 1 of 2', 'value 100', 'NaN']); // batch 2: no plan yet
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });

  it('dispose() while staged runs are queued: they finish or are refused, and every buffer is freed', async () => {
    const device = await testDevice();
    const { liveBuffers } = await import('../../src/runtime/buffers.js');
    const before = liveBuffers(device);
    const model = await ViTModel.fromWeights(device, weights(), { label: 'tiny.staging.dispose', batch: 3 });
    const runs = [0, 1, 2, 3].map(() => model.forward(f.input).then(
      (r) => r.logits,
      (e: unknown) => e,
    ));
    await model.dispose();
    for (const r of await Promise.all(runs)) {
      if (r instanceof Float32Array) expect(maxRelError(r, f.golden.logits)).toBeLessThanOrEqual(TOL);
      else expect((r as { code?: string }).code).toBe('DISPOSED');
    }
    expect(liveBuffers(device)).toEqual(before);
  });
});

describe('non-finite logits are an error, not an answer', () => {
  // Finite weights so large that the classifier's sums overflow float32 (3e38 · x summed over 64
  // features): every image's logits would be ±Inf or NaN. The weight-file reader may refuse such
  // values on its own; this goes through fromWeights() so the output check is tested either way.
  it('weights that overflow float32: BAD_WEIGHTS naming the images', async () => {
    const w = weights();
    w.tensors.get('head.weight')!.fill(3e38);
    const model = await load('tiny.overflow', 3, w);
    const msg = await expectWebvitError(() => model.forward(f.input), 'BAD_WEIGHTS', ['images 0, 1, 2 of 3', 'not finite', 'overflow', 'float32']);
    expect(msg).toContain('weights');
  });

  it('a finite input so large that float32 overflows: BAD_INPUT naming the image and the magnitude', async () => {
    const model = await load('tiny.overflow.input', 3);
    const x = f.input.slice();
    x.fill(3e38, per, 2 * per); // image 1 only
    // Refused from the input check's largest |value| (beyond the model's inputLimit), before any
    // output is read: test/model/overflow.test.ts has the rest.
    await expectWebvitError(() => model.forward(x), 'BAD_INPUT', ['image 1 of 3', 'overflow', '3.0e+38']);
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });
});
