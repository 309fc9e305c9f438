// The measurement protocol of the peer benchmark, shared as-is by Node (node-job.mjs) and the
// browser page (page.html): plain JavaScript, no Node or DOM imports.
//
// An engine is { name, async create() -> session }; a session is
// { async run(pixels: Float32Array, batch) -> Float32Array logits (on the CPU), info, async dispose(),
//   optional async pipelineRun() (transformers.js: the whole image-classification pipeline) }.
//
// A Runner holds one engine on one model. The driver (run.mjs) calls, per engine in turn:
//   start()          cold start: now() before create(), through the first run at batch 1, to its
//                    logits on the CPU; then the correctness check: those logits against PyTorch's
//                    golden image 0, and a batch-2 run against both golden images. Relative error =
//                    max |logit - golden| / max |golden|. Above `tol` the engine is not timed.
//   prepare(B)       one run at batch B (the golden images tiled), checked the same way: the
//                    warm-up of the throughput measurement;
// and then, interleaving the engines round by round so that a change in the machine's load hits
// every engine alike:
//   time(1)          one timed batch-1 run (the cold run and the check run were its warm-up);
//   time(B)          one timed batch-B run (images/s = B / median);
//   timePipeline()   one timed pipeline call (transformers.js only).
// Each returns milliseconds measured inside the engine's own process or page.

export const now = () => performance.now();

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** max |y - g| / max |g|; Infinity on a length mismatch or NaN. */
export function relError(y, g) {
  if (!y || y.length !== g.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(y[i] - g[i]);
    if (Number.isNaN(d)) return Infinity;
    if (d > num) num = d;
    den = Math.max(den, Math.abs(g[i]));
  }
  return num / den;
}

/** `src` (n images of `per` values) tiled to `batch` images. */
export function tile(src, per, batch) {
  const n = src.length / per;
  const out = new src.constructor(per * batch);
  for (let b = 0; b < batch; b++) out.set(src.subarray((b % n) * per, ((b % n) + 1) * per), b * per);
  return out;
}

const errText = (e) => `${e && e.message ? e.message : e}`.slice(0, 2000);

/** fixture: { model, input: Float32Array (2 images), golden: Float64Array [2 * classes], classes, per }. */
export function createRunner(engine, fixture, { tol = 1e-3, log = () => {} } = {}) {
  const { per, classes } = fixture;
  const x1 = fixture.input.subarray(0, per);
  const inputs = new Map([[1, x1]]);
  let session;
  return {
    async start() {
      const out = { engine: engine.name, model: fixture.model, ok: false };
      try {
        const t0 = now();
        session = await engine.create();
        const t1 = now();
        const y1 = await session.run(x1, 1);
        const t2 = now();
        out.info = session.info ?? {};
        out.cold = { totalMs: t2 - t0, createMs: t1 - t0, firstRunMs: t2 - t1 };
        log(`cold start ${(t2 - t0).toFixed(0)} ms (create ${(t1 - t0).toFixed(0)} ms, first run ${(t2 - t1).toFixed(0)} ms)`);
        const e1 = relError(y1, fixture.golden.subarray(0, classes));
        const e2 = relError(await session.run(fixture.input, 2), fixture.golden);
        out.error = { batch1: e1, batch2: e2 };
        log(`logits relative error ${e1.toExponential(2)} (batch 1), ${e2.toExponential(2)} (batch 2)`);
        if (Math.max(e1, e2) <= tol) out.ok = true;
        else out.failure = `logits differ from PyTorch: relative error ${Math.max(e1, e2).toExponential(2)} > ${tol}; not timed`;
      } catch (e) {
        out.failure = errText(e);
        out.stack = e && e.stack ? String(e.stack).slice(0, 4000) : undefined;
      }
      return out;
    },
    async prepare(batch) {
      try {
        const xb = tile(fixture.input, per, batch);
        inputs.set(batch, xb);
        const t0 = now();
        const err = relError(await session.run(xb, batch), tile(fixture.golden, classes, batch));
        const ms = now() - t0;
        log(`batch ${batch}: first run ${ms.toFixed(0)} ms, logits relative error ${err.toExponential(2)}`);
        return err <= tol ? { ok: true, error: err, firstRunMs: ms } : { ok: false, error: err, failure: `batch ${batch}: logits relative error ${err.toExponential(2)} > ${tol}; not timed` };
      } catch (e) {
        return { ok: false, failure: `batch ${batch}: ${errText(e)}` };
      }
    },
    async time(batch) {
      const x = inputs.get(batch);
      const t0 = now();
      await session.run(x, batch);
      return now() - t0;
    },
    hasPipeline: () => !!session?.pipelineRun,
    async timePipeline() {
      const t0 = now();
      await session.pipelineRun();
      return now() - t0;
    },
    async dispose() {
      try {
        await session?.dispose?.();
      } catch {
        /* the results matter more than a failed cleanup */
      }
      session = undefined;
    },
  };
}
