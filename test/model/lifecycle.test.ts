import { afterEach, describe, expect, it } from 'vitest';
import { presetConfig, shapeOf } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';
import { estimateActivationBytes, ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { tensorLifetimes } from '../../src/runtime/plan.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { errorScopesEmpty, InjectedFailure, trackBuffers, type BufferTracker } from '../helpers/buffer_tracker.js';
import { caught, expectWebvitError } from '../helpers/errors.js';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';

// A model's life on a device: bad inputs are refused without harming later runs, every GPU
// buffer it makes is freed by dispose() (and by a load that fails part-way), dispose() leaves the
// caller's device alone, concurrent calls are safe, and profile() agrees with forward().
// Tolerance for logits: the golden test's 1e-4 (max |logit − golden| / max |golden|).
const TOL = 1e-4;
const f = loadFixture('tiny');
const per = shapeOf(readWeights(f.model, 'tiny').config).imageValues; // 3·32·32 = 3072
const image = (i: number, n = 1) => f.input.slice(i * per, (i + n) * per);
const goldenRows = (i: number, n = 1) => f.golden.logits.slice(i, i + n);

let tracker: BufferTracker | undefined;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  tracker?.restore();
  tracker = undefined;
  while (cleanup.length) await cleanup.pop()!();
});

async function loadTiny(label: string, batch = 1): Promise<ViTModel> {
  const model = await ViTModel.load(await testDevice(), f.model, { label, batch });
  cleanup.push(() => model.dispose());
  return model;
}

describe('(a) bad input', () => {
  // Each bad input is refused with BAD_INPUT naming the expected and the actual count, before
  // anything reaches the GPU; afterwards the same model still gives the golden logits.
  it('wrong length, batch mismatch, batch 0, non-Float32Array: BAD_INPUT, and the model still works', async () => {
    const model = await loadTiny('tiny.badinput', 3);
    await expectWebvitError(() => model.forward(new Float32Array(per + 1)), 'BAD_INPUT', [`${per + 1} values`, `${per} float32 values`, '3×32×32']);
    await expectWebvitError(() => model.forward(new Float32Array(0)), 'BAD_INPUT', ['0 values', `${per} float32 values`]);
    await expectWebvitError(() => model.forward(f.input, { batch: 2 }), 'BAD_INPUT', [`${3 * per} values`, `expected ${2 * per}`, 'batch 2']);
    await expectWebvitError(() => model.forward(image(0), { batch: 2 }), 'BAD_INPUT', [`${per} values`, `expected ${2 * per}`]);
    await expectWebvitError(() => model.forward(f.input, { batch: 0 }), 'BAD_INPUT', ['batch', 'positive integer', 'got 0']);
    await expectWebvitError(() => model.forward(f.input, { batch: 1.5 }), 'BAD_INPUT', ['batch', 'positive integer', 'got 1.5']);
    await expectWebvitError(() => model.forward(Float64Array.from(f.input) as unknown as Float32Array), 'BAD_INPUT', ['Float32Array', 'Float64Array']);
    await expectWebvitError(() => model.forward(Array.from(f.input) as unknown as Float32Array), 'BAD_INPUT', ['Float32Array', '[object Array]']);
    await expectWebvitError(() => model.profile(new Float32Array(per - 1)), 'BAD_INPUT', [`${per - 1} values`]);

    const out = await model.forward(f.input);
    expect(out.batch).toBe(3);
    expect(maxRelError(out.logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
    // A view into a larger buffer (non-zero byteOffset) is read from its own offset.
    const one = await model.forward(f.input.subarray(per, 2 * per));
    expect(maxRelError(one.logits, goldenRows(1))).toBeLessThanOrEqual(TOL);
  });
});

describe('(b) no GPU buffer leaks', () => {
  // Everything load + forward + profile + extra batch sizes (LRU plan eviction) + dispose
  // creates is destroyed by dispose: a long-lived page that loads models in turn must not grow.
  it('load, forward at several batch sizes, profile, dispose: every buffer destroyed', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const model = await ViTModel.load(device, f.model, { label: 'tiny.leak' });
    for (const n of [1, 2, 3, 1]) {
      const out = await model.forward(image(0, n));
      expect(maxRelError(out.logits, goldenRows(0, n))).toBeLessThanOrEqual(TOL);
    }
    await model.profile(image(0));
    expect(tracker.created.length).toBeGreaterThan(33); // 33 weights + activations + uniforms + readback
    await model.dispose();
    expect(tracker.live(), `live after dispose: ${tracker.describeLive()}`).toEqual([]);
  });

  it('a load that fails its weights or config check creates no buffers', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const truncated = f.model.subarray(0, f.model.length - 10);
    await expectWebvitError(() => ViTModel.load(device, truncated), 'BAD_WEIGHTS', ['head.bias']);
    await expectWebvitError(() => ViTModel.load(device, f.model, { batch: 0 }), 'BAD_INPUT', ['got 0']);
    expect(tracker.created).toEqual([]);
  });

  // Fail the n-th createBuffer of a load, for every n: whatever was made before the failure
  // (weights, activation buffers, uniforms) must be destroyed, the error must come out unchanged,
  // and the device's error scopes must all be popped (a scope left open would swallow later GPU
  // errors). Then a normal load on the same device still gives the golden logits.
  it('a load that fails at any createBuffer leaves no live buffers and no open error scopes', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const ok = await ViTModel.load(device, f.model, { label: 'tiny.count' });
    const total = tracker.created.length;
    await ok.dispose();
    tracker.restore();
    for (let n = 1; n <= total; n++) {
      tracker = trackBuffers(device, { failAt: n });
      const e = await caught(() => ViTModel.load(device, f.model, { label: `tiny.fail${n}` }));
      expect(e, `failing createBuffer #${n} of ${total}`).toBeInstanceOf(InjectedFailure);
      expect(tracker.live(), `failing createBuffer #${n} of ${total}: live ${tracker.describeLive()}`).toEqual([]);
      expect(await errorScopesEmpty(device), `failing createBuffer #${n}: error scope left open`).toBe(true);
      tracker.restore();
    }
    tracker = undefined;
    const model = await loadTiny('tiny.after-failures', 3);
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });

  // A GPU validation error while the plan is built (forced: an invalid buffer made while the
  // first bind group is created) is reported as code GPU, and still frees everything.
  it('a GPU validation error during plan compile: code GPU, no live buffers', async () => {
    const device = await testDevice();
    const rawCreateBuffer = device.createBuffer.bind(device);
    tracker = trackBuffers(device);
    const createBindGroup = device.createBindGroup;
    let bad: GPUBuffer | undefined;
    (device as { createBindGroup: GPUDevice['createBindGroup'] }).createBindGroup = function (this: GPUDevice, desc: GPUBindGroupDescriptor) {
      bad ??= rawCreateBuffer({ label: 'invalid', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      return createBindGroup.call(this, desc);
    };
    try {
      await expectWebvitError(() => ViTModel.load(device, f.model, { label: 'tiny.gpuerr' }), 'GPU', ['tiny.gpuerr', 'validation']);
    } finally {
      delete (device as { createBindGroup?: unknown }).createBindGroup;
      bad?.destroy();
    }
    expect(tracker.live(), `live: ${tracker.describeLive()}`).toEqual([]);
    expect(await errorScopesEmpty(device)).toBe(true);
  });
});

describe('(c) dispose', () => {
  // The device may be the caller's: dispose frees the model's buffers only. Calls after dispose
  // fail with DISPOSED (not a GPU error about destroyed buffers).
  it('does not destroy the device; forward/profile after dispose give DISPOSED', async () => {
    const device = await testDevice();
    const lost = Promise.race([device.lost.then(() => 'lost'), new Promise((r) => setTimeout(() => r('alive'), 50))]);
    const a = await ViTModel.load(device, f.model, { label: 'tiny.a' });
    expect(maxRelError((await a.forward(image(0))).logits, goldenRows(0))).toBeLessThanOrEqual(TOL);
    await a.dispose();
    await a.dispose(); // idempotent
    await expectWebvitError(() => a.forward(image(0)), 'DISPOSED', ['tiny.a']);
    await expectWebvitError(() => a.profile(image(0)), 'DISPOSED', ['tiny.a']);
    expect(await lost).toBe('alive');
    const b = await loadTiny('tiny.b', 3);
    expect(maxRelError((await b.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });

  // dispose() while a forward is in flight: the forward either completes with the right logits
  // or fails with DISPOSED; never a raw GPU/map error from buffers destroyed under it.
  it('dispose during an in-flight forward: right logits or DISPOSED', async () => {
    const device = await testDevice();
    for (const delay of [0, 1, 2, 3, 5, 8]) {
      const model = await ViTModel.load(device, f.model, { label: `tiny.inflight${delay}` });
      const run = model.forward(image(2)).then(
        (r) => ({ ok: true as const, r }),
        (e) => ({ ok: false as const, e }),
      );
      for (let i = 0; i < delay; i++) await Promise.resolve();
      await model.dispose();
      const out = await run;
      if (out.ok) expect(maxRelError(out.r.logits, goldenRows(2)), `delay ${delay}`).toBeLessThanOrEqual(TOL);
      else {
        expect(out.e, `delay ${delay}: ${String(out.e)}`).toBeInstanceOf(WebvitError);
        expect((out.e as WebvitError).code, `delay ${delay}: ${(out.e as Error).message}`).toBe('DISPOSED');
      }
    }
  });
});

describe('(d) concurrency', () => {
  // Runs on one plan share its activation buffers and readback buffer: they must be serialised,
  // or one image's logits would come back for another.
  it('three concurrent forwards with different images (same batch size)', async () => {
    const model = await loadTiny('tiny.concurrent');
    const outs = await Promise.all([0, 1, 2].map((i) => model.forward(image(i))));
    outs.forEach((o, i) => expect(maxRelError(o.logits, goldenRows(i)), `image ${i}`).toBeLessThanOrEqual(TOL));
  });

  it('concurrent forward and profile', async () => {
    const model = await loadTiny('tiny.concurrent.profile');
    const [a, p, b] = await Promise.all([model.forward(image(0)), model.profile(image(1)), model.forward(image(2))]);
    expect(maxRelError(a.logits, goldenRows(0))).toBeLessThanOrEqual(TOL);
    expect(maxRelError(p.result.logits, goldenRows(1))).toBeLessThanOrEqual(TOL);
    expect(maxRelError(b.logits, goldenRows(2))).toBeLessThanOrEqual(TOL);
  });

  // Three batch sizes at once: three plans, but the model keeps at most two, so one is evicted
  // while a forward on it is queued. The evicted plan must not be destroyed under that forward.
  it('three concurrent forwards with different batch sizes (1, 2, 3)', async () => {
    const model = await loadTiny('tiny.concurrent.batches');
    const outs = await Promise.all([1, 2, 3].map((n) => model.forward(image(0, n))));
    outs.forEach((o, i) => {
      expect(o.batch).toBe(i + 1);
      expect(maxRelError(o.logits, goldenRows(0, i + 1)), `batch ${i + 1}`).toBeLessThanOrEqual(TOL);
    });
  });
});

describe('(e) profile', () => {
  const check = async (device: GPUDevice, label: string) => {
    const model = await ViTModel.load(device, f.model, { label, batch: 3 });
    try {
      const fwd = await model.forward(f.input);
      const p = await model.profile(f.input);
      const graph = buildGraph(model.config, () => ({ buffer: undefined as unknown as GPUBuffer }), { batch: 3, maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize });
      // One timing per dispatch, in plan order, named as the graph names them.
      expect(p.dispatches.map((d) => d.label)).toEqual(graph.dispatches.map((d) => d.label));
      // Same op per dispatch (the variant may be a tuned one).
      const op = (k: string) => k.split('/')[0];
      expect(p.dispatches.map((d) => op(d.kernel))).toEqual(graph.dispatches.map((d) => op(d.source.kernel)));
      expect(p.method).toBe(device.features.has('timestamp-query') ? 'timestamp-query' : 'wall-clock');
      if (p.method === 'timestamp-query') {
        // Dawn quantizes timestamps unless told not to (its timestamp_quantization toggle; steps of
        // 65 536 ns here), so a dispatch shorter than a step reads exactly 0 ms and the rest are
        // rounded to 65.5 µs: useless for per-kernel timing. With full resolution, 18 readings all
        // being multiples of 65 536 ns has probability ~2^-288. (This also makes the `> 0` check
        // below fail deterministically here rather than in ~1 run of 12.)
        const ns = p.dispatches.map((d) => Math.round(d.ms * 1e6));
        expect(ns.every((v) => v % 65536 === 0), `timestamps quantized to 65 536 ns: ${ns.join(', ')} ns`).toBe(false);
      }
      for (const d of p.dispatches) {
        expect(d.ms, `${d.label} (${p.method})`).toBeGreaterThan(0);
        expect(Number.isFinite(d.ms), d.label).toBe(true);
        // pool/cls is a gather (0 flops by design); every dispatch moves bytes.
        expect(d.flops, d.label).toBeGreaterThanOrEqual(0);
        expect(d.bytes, d.label).toBeGreaterThan(0);
      }
      expect(p.totalMs).toBeCloseTo(p.dispatches.reduce((a, d) => a + d.ms, 0), 9);
      // Same plan, same kernels: profile's outputs are forward's, bit for bit.
      expect(p.result.logits).toEqual(fwd.logits);
      expect(maxRelError(p.result.logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
      console.log(`${label}: ${p.method}, ${p.dispatches.length} dispatches, total ${p.totalMs.toFixed(3)} ms; min ${Math.min(...p.dispatches.map((d) => d.ms)).toFixed(4)} ms`);
    } finally {
      await model.dispose();
    }
  };

  it('one positive timing per dispatch, the device method, and forward’s logits', async () => {
    await check(await testDevice(), 'tiny.profile');
  });

  // The fallback path (submit-and-wait wall time) on a device without timestamp-query.
  it('wall-clock fallback on a device without timestamp-query', async () => {
    const device = await getNodeDevice({ disableFeatures: ['timestamp-query'] });
    try {
      expect(device.features.has('timestamp-query')).toBe(false);
      await check(device, 'tiny.profile.wall');
    } finally {
      device.destroy();
    }
  });
});

describe('(f) activation memory estimate', () => {
  const dummy = () => ({ buffer: undefined as unknown as GPUBuffer });
  const allTensorBytes = (c: ReturnType<typeof presetConfig>, batch: number) => {
    const g = buildGraph(c, dummy, { batch, maxWorkgroupStorage: 16384 });
    const lives = tensorLifetimes('sum', g.dispatches, { inputs: [g.input.tensor], outputs: [g.features.tensor, ...(g.logits ? [g.logits.tensor] : [])] });
    return [...lives.values()].reduce((a, l) => a + l.bytes, 0);
  };

  // Liveness reuse: far less than every tensor at once, at least the biggest tensor (the MLP
  // hidden layer, [197, 3072] floats), and independent of depth (one block's worth, not the model's).
  it('vit_base_patch16_224 at batch 1', () => {
    const c = presetConfig('vit_base_patch16_224');
    const est = estimateActivationBytes(c, 1);
    const sum = allTensorBytes(c, 1);
    const biggest = 197 * 3072 * 4;
    console.log(`vit_base_patch16_224 batch 1: activation estimate ${est} bytes (${(est / 2 ** 20).toFixed(2)} MiB); all tensors ${sum} bytes (${(sum / 2 ** 20).toFixed(2)} MiB); largest ${biggest}`);
    expect(est).toBeLessThan(sum);
    expect(est).toBeGreaterThanOrEqual(biggest);
    expect(est).toBeLessThan(sum / 10); // 12 blocks × ~10 tensors each: reuse must be substantial
    expect(estimateActivationBytes(presetConfig('vit_base_patch16_224', { num_layers: 24 }), 1)).toBe(est);
    expect(estimateActivationBytes(c, 2)).toBeGreaterThan(est);
  });

  // The estimate is the allocator the runtime uses: the activation buffers a real plan makes add
  // up to it (each buffer rounded up to 16 bytes).
  it('matches the activation buffers a loaded model actually creates', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const model = await loadTiny('tiny.estimate', 3);
    const acts = tracker.created.filter((b) => /\.activations\d+$/.test(b.label));
    const est = model.activationBytes(3);
    expect(est).toBe(estimateActivationBytes(model.config, 3, device.limits.maxComputeWorkgroupStorageSize));
    const made = acts.reduce((a, b) => a + b.size, 0);
    expect(acts.length).toBeGreaterThan(0);
    expect(made).toBeGreaterThanOrEqual(est);
    expect(made).toBeLessThan(est + 16 * acts.length);
  });
});

describe('(g) top-K on the GPU and GPU-written input', () => {
  // forward(x, { topK }) runs softmax and top-K on the GPU (the topk op) and reads back only K
  // pairs per image: the same classes as the CPU's topK of the logits, probabilities within
  // (4 + |x − max|) float32 ULP of the float64 softmax (test/kernels/topk.test.ts says why).
  it('topK: the CPU’s classes and probabilities; logits not read back; bad K refused; no leaks', async () => {
    const device = await testDevice();
    tracker = trackBuffers(device);
    const model = await ViTModel.load(device, f.model, { label: 'tiny.topk', batch: 3, topK: 4 });
    const { logits, numClasses } = await model.forward(f.input);
    const { softmaxRows, topK } = await import('../../src/model/topk.js');
    const p = softmaxRows(logits, numClasses);
    const cpu = topK(logits, numClasses, 4);
    const got = await model.forward(f.input, { topK: 4 });
    expect(got.logits).toHaveLength(0);
    expect(got.top!.map((r) => r.map((e) => e.index))).toEqual(cpu.map((r) => r.map((e) => e.index)));
    got.top!.forEach((row, i) =>
      row.forEach((e) => {
        const dx = logits[i * numClasses + e.index] - logits[i * numClasses + cpu[i][0].index];
        expect(Math.abs(e.p - p[i * numClasses + e.index])).toBeLessThanOrEqual((4 + Math.abs(dx)) * 2 ** -23 * p[i * numClasses + e.index] + 1e-12);
      }),
    );
    // Features come too when asked; all classes ranked is allowed.
    const both = await model.forward(image(0), { topK: numClasses, features: true });
    expect(both.top![0]).toHaveLength(numClasses);
    expect(both.features).toHaveLength(model.config.hidden_size);
    await expectWebvitError(() => model.forward(image(0), { topK: numClasses + 1 }), 'BAD_INPUT', ['topK', `${numClasses} classes`, `got ${numClasses + 1}`]);
    await expectWebvitError(() => model.forward(image(0), { topK: 0 }), 'BAD_INPUT', ['topK', 'got 0']);
    await model.dispose();
    expect(tracker.live(), `live after dispose: ${tracker.describeLive()}`).toEqual([]);
  });

  it('a GPU input (the image preprocessor’s) gives the logits of the same pixels read back; a mismatched one is refused', async () => {
    const device = await testDevice();
    const { ImagePreprocessor } = await import('../../src/image/preprocessor.js');
    const model = await loadTiny('tiny.gpuinput', 2);
    const pre = new ImagePreprocessor(device, model.preprocess, 'tiny.pre');
    cleanup.push(() => pre.dispose());
    const images = [0, 1].map((s) => ({ width: 40, height: 37, rgba: Uint8Array.from({ length: 4 * 40 * 37 }, (_, i) => (i * (7 + s)) % 251) }));
    const cpu = await model.forward(await pre.run(images));
    const gpu = await model.forward(pre.input(2, async (put) => {
      for (const [i, img] of images.entries()) await put(img, `img${i}`);
    }));
    expect(gpu.logits).toEqual(cpu.logits); // the same pixels in the same buffer: bit for bit
    const top = await model.forward(pre.input(2, async (put) => put(images[1], 'img1')), { topK: 2 });
    expect(top.top![0][0].index).toBe(topIndex(cpu.logits.subarray(model.numClasses), model.numClasses));
    await expectWebvitError(() => model.forward(pre.input(2, async () => undefined), { batch: 3 }), 'BAD_INPUT', ['GPU input of 2 images', 'batch 3']);
  });
});

function topIndex(row: Float32Array, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (row[i] > row[best]) best = i;
  return best;
}
