import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shapeOf } from '../../src/model/config.js';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { STAGING_PER_INPUT } from '../../src/runtime/plan.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { trackBuffers, type BufferTracker } from '../helpers/buffer_tracker.js';
import { loadFixture } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// A soak of the library on the tiny model: hundreds of forward passes, many in flight at once with
// different inputs and batch sizes (so plans are built, evicted and rebuilt under load), dispose()
// while passes are in flight, and load/dispose cycles. Required:
// - every result equals the sequential one for the same input and batch size, bit for bit (same
//   plan, same kernels, same order of arithmetic); each image's logits at any batch size equal its
//   batch-1 logits to 1e-5 (max |Δ| / max |logit|: batch sizes may differ in kernel variant);
// - a pass in flight when its model is disposed completes with that bitwise result or rejects with
//   DISPOSED; nothing hangs (every wait is bounded) and nothing else is thrown;
// - live GPU buffers and their bytes are the same after every round, and zero after dispose.
// Seeded: the seed is printed; WEBVIT_SEED=<seed> replays a run.
const seed = freshSeed();
console.log(`soak seed ${seed} (WEBVIT_SEED=${seed} replays it)`);
const rand = rng(seed);
const f = loadFixture('tiny');
const per = shapeOf(readWeights(f.model, 'tiny').config).imageValues;
const BATCHES = [1, 3, 2, 5, 1, 4, 2, 3, 5, 1];
const CROSS_BATCH_TOL = 1e-5;
const HANG_MS = 60_000;

const pool = Array.from({ length: 8 }, () => randn(rand, per));
/** A call: which pool images, concatenated into one input. */
interface Call {
  images: number[];
  input: Float32Array;
}
function makeCall(batch: number): Call {
  const images = Array.from({ length: batch }, () => Math.floor(rand() * pool.length));
  const input = new Float32Array(batch * per);
  images.forEach((img, i) => input.set(pool[img], i * per));
  return { images, input };
}
const calls = Array.from({ length: 40 }, (_, i) => makeCall(BATCHES[i % BATCHES.length]));
const shuffled = <T>(a: T[]) => {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [b[i], b[j]] = [b[j], b[i]];
  }
  return b;
};

/** Rejects if `p` has not settled within HANG_MS: a hang fails the test instead of stalling it. */
function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`seed ${seed}: ${what} did not settle in ${HANG_MS} ms`)), HANG_MS)))]).finally(() => clearTimeout(timer));
}

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

let tracker: BufferTracker | undefined;
afterEach(() => {
  tracker?.restore();
  tracker = undefined;
});
const liveBytes = (t: BufferTracker) => t.live().reduce((a, b) => a + b.size, 0);

describe(`soak (seed ${seed})`, () => {
  let reference: Float32Array[] = [];
  let classes = 0;

  // Sequential references, one call at a time, on a model of their own: every test below compares
  // against them, so each can run alone (-t) and none depends on another having passed.
  beforeAll(async () => {
    const device = await testDevice();
    const model = await ViTModel.load(device, f.model, { label: 'soak.reference' });
    try {
      classes = model.numClasses;
      for (const c of calls) reference.push((await bounded(model.forward(c.input), 'sequential forward')).logits);
    } finally {
      await model.dispose();
    }
  });

  it('hundreds of concurrent forwards with changing batch sizes: bitwise the sequential results, flat GPU memory', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const model = await ViTModel.load(device, f.model, { label: 'soak' });
    try {
      // Per image, every batch size agrees with batch 1 (to CROSS_BATCH_TOL).
      const single = await Promise.all(pool.map((img) => model.forward(img)));
      let worst = 0;
      calls.forEach((c, i) =>
        c.images.forEach((img, r) => {
          const d = relDiff(reference[i].subarray(r * classes, (r + 1) * classes), single[img].logits);
          worst = Math.max(worst, d);
          expect(d, `seed ${seed}: call ${i} row ${r} (image ${img}, batch ${c.images.length}) vs batch 1`).toBeLessThanOrEqual(CROSS_BATCH_TOL);
        }),
      );

      const rounds = 6;
      let live: { count: number; bytes: number } | undefined;
      let forwards = calls.length + pool.length;
      for (let round = 0; round < rounds; round++) {
        const order = shuffled(calls.map((_, i) => i));
        const outs = await bounded(Promise.all(order.map((i) => model.forward(calls[i].input))), `round ${round}`);
        forwards += order.length;
        outs.forEach((o, k) => {
          const i = order[k];
          expect(o.batch).toBe(calls[i].images.length);
          expect(o.logits, `seed ${seed}: round ${round}, call ${i} (batch ${o.batch})`).toEqual(reference[i]);
        });
        // Leave the same two plans cached every round (batch 3 and 1), then count what is live.
        await model.forward(calls[1].input);
        await model.forward(calls[0].input);
        forwards += 2;
        // Plans make their input staging buffers on demand (Plan.stage: up to STAGING_PER_INPUT,
        // as many as calls were ever in flight at once), so those are bounded, the rest exact.
        const staging = tracker.live().filter((b) => /\.staging\d+$/.test(b.label));
        expect(staging.length, `seed ${seed}: staging buffers of the two cached plans after round ${round}`).toBeLessThanOrEqual(2 * STAGING_PER_INPUT);
        const now = { count: tracker.live().length - staging.length, bytes: liveBytes(tracker) - staging.reduce((a, b) => a + b.size, 0) };
        if (live) expect(now, `seed ${seed}: live buffers after round ${round} vs round 0 (${tracker.describeLive()})`).toEqual(live);
        live = now;
      }
      console.log(`soak: ${forwards} forwards (${rounds} rounds of ${calls.length} concurrent, batches ${BATCHES.join(',')}); live ${live!.count} buffers, ${live!.bytes} bytes after every round; worst batch-vs-batch-1 difference ${worst.toExponential(2)}`);
    } finally {
      await model.dispose();
    }
    expect(tracker.live(), `live after dispose: ${tracker.describeLive()}`).toEqual([]);
  });

  it('dispose while forwards are in flight: each completes bitwise or rejects with DISPOSED; nothing leaks or hangs', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    let completed = 0;
    let refused = 0;
    for (let trial = 0; trial < 12; trial++) {
      const model = await ViTModel.load(device, f.model, { label: `soak.dispose${trial}`, batch: 1 + (trial % 3) });
      const picked = Array.from({ length: 8 }, () => Math.floor(rand() * calls.length));
      const settle = (i: number, p: Promise<{ logits: Float32Array }>) =>
        p.then(
          (r) => ({ i, ok: true as const, logits: r.logits }),
          (e: unknown) => ({ i, ok: false as const, e }),
        );
      // Half the callers start another forward as soon as theirs completes (as an app's loop
      // would): those land before, during or after the dispose.
      const runs = picked.flatMap((i, k) => {
        const first = settle(i, k % 4 === 3 ? model.profile(calls[i].input).then((p) => p.result) : model.forward(calls[i].input));
        if (k % 2) return [first];
        const j = picked[(k + 1) % picked.length];
        return [first, first.then(() => settle(j, model.forward(calls[j].input)))];
      });
      // Dispose after a seeded delay: at once, after some microtasks, or after a few milliseconds.
      const wait = Math.floor(rand() * 4);
      if (wait === 1) for (let k = 0; k < 1 + Math.floor(rand() * 20); k++) await Promise.resolve();
      if (wait >= 2) await new Promise((r) => setTimeout(r, Math.floor(rand() * 8 * wait)));
      const disposing = model.dispose();
      const late = model.forward(calls[0].input).then(
        () => 'completed',
        (e: unknown) => (e instanceof WebvitError ? e.code : String(e)),
      );
      await bounded(disposing, `dispose in trial ${trial}`);
      for (const r of await bounded(Promise.all(runs), `forwards in flight, trial ${trial}`)) {
        if (r.ok) {
          completed++;
          expect(r.logits, `seed ${seed}: trial ${trial}, call ${r.i}`).toEqual(reference[r.i]);
        } else {
          refused++;
          expect(r.e, `seed ${seed}: trial ${trial}, call ${r.i}: ${String(r.e)}`).toBeInstanceOf(WebvitError);
          expect((r.e as WebvitError).code, `seed ${seed}: trial ${trial}: ${(r.e as Error).message}`).toBe('DISPOSED');
        }
      }
      expect(await late, 'a forward after dispose()').toBe('DISPOSED');
      expect(tracker.live(), `seed ${seed}: trial ${trial}: live after dispose: ${tracker.describeLive()}`).toEqual([]);
    }
    console.log(`dispose in flight: ${completed} forwards completed, ${refused} refused with DISPOSED`);
  });

  it('load/dispose cycles: every buffer freed each time', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    let perLoad: number | undefined;
    for (let cycle = 0; cycle < 20; cycle++) {
      const before = tracker.created.length;
      const i = Math.floor(rand() * calls.length);
      const model = await ViTModel.load(device, f.model, { label: `soak.cycle${cycle}`, batch: calls[i].images.length });
      const out = await bounded(model.forward(calls[i].input), `cycle ${cycle}`);
      expect(out.logits, `seed ${seed}: cycle ${cycle}, call ${i}`).toEqual(reference[i]);
      await model.dispose();
      expect(tracker.live(), `seed ${seed}: cycle ${cycle}: ${tracker.describeLive()}`).toEqual([]);
      // The same number of buffers per load of one batch size (nothing accumulates across cycles).
      const made = tracker.created.length - before;
      if (perLoad !== undefined && calls[i].images.length === 1) expect(made, `seed ${seed}: buffers made by cycle ${cycle}`).toBe(perLoad);
      if (calls[i].images.length === 1) perLoad = made;
    }
  });
});
