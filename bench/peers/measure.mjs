// The measurement protocol of the peer benchmark, shared as-is by Node (node-job.mjs) and the
// browser page (page.html): plain JavaScript, no Node or DOM imports.
//
// An engine is { name, async create() -> session }, a session is
// { async run(pixels: Float32Array, batch) -> Float32Array logits (on the CPU), info, async dispose(),
//   optional async pipelineRun() -> anything (transformers.js: the whole image-classification pipeline) }.
//
// For every (engine, model) the protocol is:
//   1. cold start: now() before create(), through the first run at batch 1, to its logits on the CPU;
//   2. correctness: the batch-1 logits against PyTorch's golden image 0, then a batch-2 run against
//      both golden images; relative error = max |logit - golden| / max |golden|. Above `tol`
//      the engine is NOT timed (its result says why);
//   3. latency: batch 1, timed runs (median reported); the cold run and the check run were the warm-up;
//   4. throughput: batch `throughputBatch` (the golden images tiled), one warm-up run that is also
//      checked against the tiled golden logits, then timed runs; images/s = batch / median.
// Timed runs: at least `minRuns`, then more until `targetMs` of timed work or `maxRuns`.

export const now = () => performance.now();

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** max |y - g| / max |g| over the first g.length values. */
export function relError(y, g) {
  if (y.length !== g.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(y[i] - g[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(g[i]));
  }
  return num / den;
}

/** The golden batch (images ++ images ++ ...) tiled to `batch` images. */
export function tile(src, per, batch) {
  const n = src.length / per;
  const out = new (src.constructor)(per * batch);
  for (let b = 0; b < batch; b++) out.set(src.subarray((b % n) * per, (b % n + 1) * per), b * per);
  return out;
}

async function timed(fn, { minRuns, maxRuns, targetMs }) {
  const runs = [];
  let total = 0;
  while (runs.length < minRuns || (total < targetMs && runs.length < maxRuns)) {
    const t0 = now();
    await fn();
    const dt = now() - t0;
    runs.push(dt);
    total += dt;
  }
  return runs;
}

/**
 * fixture: { model, input: Float32Array (2 images), golden: Float64Array [2 * classes], classes, per }.
 * opts: { tol, throughputBatch (0 = skip), latency: {minRuns, maxRuns, targetMs}, throughput: {...},
 *         pipeline: {...} | null, log(msg) }.
 */
export async function measure(engine, fixture, opts) {
  const log = opts.log ?? (() => {});
  const { per, classes } = fixture;
  const out = { engine: engine.name, model: fixture.model, ok: false };
  let session;
  try {
    const t0 = now();
    session = await engine.create();
    const t1 = now();
    const y1 = await session.run(fixture.input.subarray(0, per), 1);
    const t2 = now();
    out.info = session.info ?? {};
    out.cold = { totalMs: t2 - t0, createMs: t1 - t0, firstRunMs: t2 - t1 };
    log(`${engine.name} ${fixture.model}: cold start ${(t2 - t0).toFixed(0)} ms (create ${(t1 - t0).toFixed(0)} ms, first run ${(t2 - t1).toFixed(0)} ms)`);

    const e1 = relError(y1, fixture.golden.subarray(0, classes));
    const y2 = await session.run(fixture.input, 2);
    const e2 = relError(y2, fixture.golden);
    out.error = { batch1: e1, batch2: e2 };
    log(`${engine.name} ${fixture.model}: logits rel error ${e1.toExponential(2)} (batch 1), ${e2.toExponential(2)} (batch 2)`);
    if (!(Math.max(e1, e2) <= opts.tol)) {
      out.failure = `logits differ from PyTorch: relative error ${Math.max(e1, e2).toExponential(2)} > ${opts.tol}; not timed`;
      return out;
    }

    // The cold run (batch 1) and the batch-2 check run are the warm-up: shaders and plans exist.
    const x1 = fixture.input.subarray(0, per);
    const lat = await timed(() => session.run(x1, 1), opts.latency);
    out.latency = { batch: 1, medianMs: median(lat), runsMs: lat };
    log(`${engine.name} ${fixture.model}: batch 1 median ${median(lat).toFixed(1)} ms over ${lat.length} runs`);

    if (session.pipelineRun && opts.pipeline) {
      await session.pipelineRun();
      const pr = await timed(() => session.pipelineRun(), opts.pipeline);
      out.pipeline = { batch: 1, medianMs: median(pr), runsMs: pr };
      log(`${engine.name} ${fixture.model}: image-classification pipeline (batch 1, with preprocessing) median ${median(pr).toFixed(1)} ms`);
    }

    const B = opts.throughputBatch;
    if (B > 0) {
      const xb = tile(fixture.input, per, B);
      const gb = tile(fixture.golden, classes, B);
      const yb = await session.run(xb, B);
      const eb = relError(yb, gb);
      out.error[`batch${B}`] = eb;
      if (!(eb <= opts.tol)) {
        out.failure = `batch ${B}: logits differ from PyTorch: relative error ${eb.toExponential(2)} > ${opts.tol}; throughput not timed`;
      } else {
        const tp = await timed(() => session.run(xb, B), opts.throughput);
        out.throughput = { batch: B, medianMs: median(tp), imagesPerSec: (1000 * B) / median(tp), runsMs: tp };
        log(`${engine.name} ${fixture.model}: batch ${B} median ${median(tp).toFixed(0)} ms = ${out.throughput.imagesPerSec.toFixed(2)} images/s over ${tp.length} runs`);
      }
    }
    out.ok = !out.failure;
    return out;
  } catch (e) {
    out.failure = `${e && e.message ? e.message : e}`.slice(0, 2000);
    out.stack = e && e.stack ? String(e.stack).slice(0, 4000) : undefined;
    return out;
  } finally {
    try {
      await session?.dispose?.();
    } catch {
      /* the result matters more than a failed cleanup */
    }
  }
}
