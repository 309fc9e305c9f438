import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { ImagePreprocessor } from '../../src/image/preprocessor.js';
import { ViTModel } from '../../src/model/vit.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { liveBuffers } from '../../src/runtime/buffers.js';
import { WebvitError } from '../../src/errors.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import type { Classification, ImageClassifier, RgbaPixels } from '../../src/web/types.js';
import { expectWebvitError } from '../helpers/errors.js';
import { fakeCaches, fakeFetch } from './fakes.js';
import { freshSeed, rng } from '../helpers/random.js';

// The web API (src/web/) in Node on Dawn: the same engine a page runs, fed ImageData-like
// {data, width, height} pixels and GPUTextures (the path copyExternalImageToTexture feeds in a
// browser). Results are held to the CLI's path (ImagePreprocessor + ViTModel.forward with topK):
// same classes, probabilities within 1e-6 at the same batch size.
const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));
const EXAMPLES = readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.png')).sort();
const seed = freshSeed();
console.log(`web classifier seed ${seed} (WEBVIT_SEED=${seed} replays it)`);

let images: RgbaPixels[] = [];
/** The CLI path's top-5 per example, at batch 1. */
let reference: { index: number; p: number }[][] = [];
let labels: string[] = [];
const devices: GPUDevice[] = [];
/** A device factory that remembers what it made (so each test can check and clean up). */
const factory = () => async () => {
  const d = await getNodeDevice();
  devices.push(d);
  return d;
};

beforeAll(async () => {
  for (const f of EXAMPLES) {
    const d = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', f))), f);
    images.push({ data: d.rgba, width: d.width, height: d.height });
  }
  const device = await getNodeDevice();
  const model = await ViTModel.load(device, MODEL, { topK: 5 });
  const pre = new ImagePreprocessor(device, model.preprocess);
  try {
    labels = model.labels!;
    for (const img of images) {
      const px = await pre.run([{ width: img.width, height: img.height, rgba: img.data as Uint8Array }]);
      reference.push((await model.forward(px, { topK: 5 })).top![0]);
    }
  } finally {
    await pre.dispose();
    await model.dispose();
    device.destroy();
  }
});

afterAll(() => {
  for (const d of devices) d.destroy();
});

function expectMatches(got: Classification[], ref: { index: number; p: number }[], what: string, tol = 1e-6): void {
  expect(got.map((c) => c.index), what).toEqual(ref.slice(0, got.length).map((r) => r.index));
  got.forEach((c, i) => {
    expect(c.label, what).toBe(labels[c.index]);
    expect(Math.abs(c.score - ref[i].p), `${what}: class ${c.index}`).toBeLessThanOrEqual(tol);
  });
}

/** An rgba8unorm texture holding `img` (what copyExternalImageToTexture makes in a browser). */
function textureOf(device: GPUDevice, img: RgbaPixels): GPUTexture {
  const t = device.createTexture({ size: [img.width, img.height], format: 'rgba8unorm', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
  device.queue.writeTexture({ texture: t }, img.data as Uint8Array<ArrayBuffer>, { bytesPerRow: 4 * img.width }, [img.width, img.height]);
  return t;
}

describe('createImageClassifier (Node, Dawn)', () => {
  let clf: ImageClassifier;
  beforeAll(async () => {
    clf = await createImageClassifier({ model: MODEL.slice().buffer, device: factory() });
  });
  afterAll(() => clf?.dispose());

  it('classifies each example like the CLI path, top-1 the file name', async () => {
    for (const [i, img] of images.entries()) {
      const top = await clf.classify(img);
      expect(top.length).toBe(5);
      expectMatches(top, reference[i], EXAMPLES[i]);
      expect(top[0].label.toLowerCase().replace(/[^a-z]/g, ''), EXAMPLES[i]).toBe(EXAMPLES[i].replace(/\.png$/, '').replace(/[^a-z]/g, ''));
    }
    expect(clf.info.labels).toEqual(labels);
    expect(clf.info.config.num_classes).toBe(10);
    expect(Object.keys(clf.info.kernels)).toContain('1');
  });

  it('a GPUTexture source gives exactly the ImageData result (the texture → band pass is exact)', async () => {
    const device = devices[0];
    for (const [i, img] of images.entries()) {
      const t = textureOf(device, img);
      try {
        expect(await clf.classify(t, { topK: 10 }), EXAMPLES[i]).toEqual(await clf.classify(img, { topK: 10 }));
      } finally {
        t.destroy();
      }
    }
  });

  it('an array runs in passes of maxBatch (8, the last padded); each row matches its single-image result', async () => {
    const rand = rng(seed);
    const order = Array.from({ length: 11 }, () => Math.floor(rand() * images.length));
    const rows = await clf.classify(order.map((j) => images[j]), { topK: 3 });
    expect(rows.length).toBe(11);
    // Batch sizes may pick other kernel variants: the same classes, probabilities within 1e-5.
    rows.forEach((r, i) => expectMatches(r, reference[order[i]], `seed ${seed}: row ${i} (${EXAMPLES[order[i]]})`, 1e-5));
    expect(Object.keys(clf.info.kernels).map(Number).sort((a, b) => a - b)).toEqual([1, 8]);
    expect(await clf.classify([])).toEqual([]);
  });

  it('embed returns the pooled features, the same alone and in a batch', async () => {
    const one = await clf.embed(images[0]);
    const D = clf.info.config.hidden_size;
    expect(one).toBeInstanceOf(Float32Array);
    expect(one.length).toBe(D);
    const many = await clf.embed([images[1], images[0]]);
    for (let i = 0; i < D; i++) expect(Math.abs(many[1][i] - one[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(one[i])));
  });

  it('profile() times each stage and dispatch of one image and gives the same top classes', async () => {
    const p = await clf.profile(images[4], { topK: 3 });
    expectMatches(p.top, reference[4], 'profile');
    for (const stage of ['decode', 'upload', 'preprocess', 'forward', 'readback'] as const) {
      expect(Number.isFinite(p.stages[stage]) && p.stages[stage] >= 0, `${stage}: ${p.stages[stage]}`).toBe(true);
    }
    expect(p.dispatches.length).toBeGreaterThan(5);
    expect(p.dispatches.some((d) => d.kernel?.startsWith('matmul/'))).toBe(true);
  });

  it('concurrent calls each get their own result (calls run one at a time, in order)', async () => {
    const rand = rng(seed + 1);
    const calls = Array.from({ length: 24 }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => Math.floor(rand() * images.length)));
    const results = await Promise.all(calls.map((c) => (c.length === 1 ? clf.classify(images[c[0]]).then((r) => [r]) : clf.classify(c.map((j) => images[j])))));
    results.forEach((rows, i) => rows.forEach((r, j) => expectMatches(r, reference[calls[i][j]], `seed ${seed}: call ${i} image ${j}`, 1e-5)));
  });

  it('a queued call classifies its pixels as they were when it was made (the caller may reuse its buffer)', async () => {
    const buf = { data: new Uint8ClampedArray(images[0].data), width: images[0].width, height: images[0].height };
    const list: RgbaPixels[] = [buf];
    const first = clf.classify(list, { topK: 5 }); // queued behind nothing, but not yet run
    buf.data.set(images[1].data); // the caller refills its buffer at once …
    list.push(images[2]); // … and its array
    const second = clf.classify(buf, { topK: 5 });
    const [a, b] = await Promise.all([first, second]);
    expect(a.length).toBe(1);
    expectMatches(a[0], reference[0], 'first call');
    expectMatches(b, reference[1], 'second call');
  });

  it('bad sources and options fail with BAD_INPUT naming the image; the classifier keeps working', async () => {
    await expectWebvitError(() => clf.classify({ data: new Uint8Array(10), width: 2, height: 2 }), 'BAD_INPUT', ['the image', '10 bytes', '2×2×4']);
    await expectWebvitError(() => clf.classify([images[0], images[1], 42 as never]), 'BAD_INPUT', ['image 2', 'number']);
    await expectWebvitError(() => clf.classify(new Map() as never), 'BAD_INPUT', ['Map', 'ImageBitmap']);
    await expectWebvitError(() => clf.classify(new Blob([new Uint8Array(8)])), 'BAD_INPUT', ['createImageBitmap', 'ImageData']);
    await expectWebvitError(() => clf.classify(images[0], { topK: 11 }), 'BAD_INPUT', ['topK', '10 classes', '11']);
    const t = devices[0].createTexture({ size: [4, 4], format: 'bgra8unorm', usage: GPUTextureUsage.TEXTURE_BINDING });
    await expectWebvitError(() => clf.classify(t), 'BAD_INPUT', ['rgba8unorm', 'bgra8unorm']);
    t.destroy();
    expectMatches(await clf.classify(images[2]), reference[2], 'after errors');
  });

  it("a texture of another GPUDevice is BAD_INPUT saying so (classify, profile, explain); the classifier keeps working", async () => {
    const other = await getNodeDevice();
    devices.push(other);
    const t = textureOf(other, images[0]);
    try {
      for (const call of [() => clf.classify(t), () => clf.classify([images[1], t]), () => clf.profile(t), () => clf.explain(t)]) {
        const msg = await expectWebvitError(call, 'BAD_INPUT', ['belongs to another GPUDevice', "pass the classifier's device or an ImageBitmap"]);
        expect(msg).not.toContain('\n');
      }
    } finally {
      t.destroy();
      other.destroy();
    }
    expectMatches(await clf.classify(images[2]), reference[2], 'after the other texture');
  });
});

describe('GPU memory, device loss, dispose', () => {
  it('live GPU buffers and bytes stay flat over 200 classifications', async () => {
    const clf = await createImageClassifier({ model: MODEL.slice().buffer, device: factory() });
    try {
      const rand = rng(seed + 2);
      const device = devices.at(-1)!;
      const textures = images.map((img) => textureOf(device, img));
      const after: { buffers: number; bytes: number; textureBytes: number }[] = [];
      for (let i = 0; i < 200; i++) {
        // Single images and arrays of 2 and 3 (plans for batch 1 and 8).
        const n = [1, 1, 2, 3][Math.floor(rand() * 4)];
        // A third of the sources are GPUTextures (the texture → band path).
        const picks = Array.from({ length: n }, () => {
          const j = Math.floor(rand() * images.length);
          return rand() < 1 / 3 ? textures[j] : images[j];
        });
        if (n === 1) await clf.classify(picks[0]);
        else await clf.classify(picks);
        const s = await clf.stats();
        after.push({ buffers: s.buffers, bytes: s.bytes, textureBytes: s.textureBytes });
      }
      const s = await clf.stats();
      expect(s.calls).toBe(200);
      // After the first few calls built their plans, nothing grows.
      const settled = after.slice(20);
      expect(settled.every((x) => x.buffers === settled[0].buffers && x.bytes === settled[0].bytes), `seed ${seed}: ${JSON.stringify(after.filter((_, i) => i % 20 === 0))}`).toBe(true);
      console.log(`web: live after 200 classifications: ${s.buffers} buffers, ${s.bytes} bytes (max ${Math.max(...after.map((x) => x.bytes))})`);
      for (const t of textures) t.destroy();
    } finally {
      await clf.dispose();
    }
  });

  it('after device.destroy() the next call recreates the device (factory) and model, with the same results', async () => {
    const made = devices.length;
    const clf = await createImageClassifier({ model: MODEL.slice().buffer, device: factory() });
    expectMatches(await clf.classify(images[0]), reference[0], 'before loss');
    devices.at(-1)!.destroy();
    expectMatches(await clf.classify(images[1]), reference[1], 'first call after loss');
    expect(devices.length).toBe(made + 2);
    expect(clf.info.recoveries).toBe(1);
    // A loss in the middle of queued calls: every call still gets its right answer.
    const calls = [0, 1, 2, 3, 4, 5].map((i) => clf.classify(images[i]));
    devices.at(-1)!.destroy();
    (await Promise.all(calls)).forEach((r, i) => expectMatches(r, reference[i], `queued call ${i} across a loss`));
    expect(clf.info.recoveries).toBeGreaterThanOrEqual(1);
    await clf.dispose();
  });

  it('recovery reads the weights again from Cache Storage (URL model) or from the kept bytes (no cache): no new download', async () => {
    const url = 'https://example.test/fm.safetensors';
    for (const cache of [undefined, false] as const) {
      const net = fakeFetch({ [url]: { body: MODEL } });
      const caches = fakeCaches();
      const clf = await createImageClassifier({ model: url, fetch: net.fetch, caches, cache, device: factory() });
      try {
        devices.at(-1)!.destroy();
        expectMatches(await clf.classify(images[5]), reference[5], `after loss, cache ${cache}`);
        expect(clf.info.recoveries).toBe(1);
        expect(net.requests, `cache ${cache}`).toEqual([url]);
        expect(caches.entries.get('webvit-models')?.has(url) ?? false).toBe(cache === undefined);
        // Which one it used: with the file gone from the cache and the server, a cached model can
        // no longer be rebuilt (it held no bytes), a kept-bytes one still can.
        caches.entries.get('webvit-models')?.delete(url);
        net.files.delete(url);
        devices.at(-1)!.destroy();
        if (cache === undefined) await expectWebvitError(() => clf.classify(images[5]), 'NETWORK', ['404']);
        else expectMatches(await clf.classify(images[5]), reference[5], 'second loss, kept bytes');
      } finally {
        await clf.dispose();
      }
    }
  });

  it("a lost device the app passed in gives DEVICE_LOST with the way out", async () => {
    const device = await getNodeDevice();
    devices.push(device);
    const clf = await createImageClassifier({ model: MODEL.slice().buffer, device });
    expectMatches(await clf.classify(images[0]), reference[0], 'app device');
    device.destroy();
    await expectWebvitError(() => clf.classify(images[0]), 'DEVICE_LOST', ['passed to createImageClassifier', 'device: () =>']);
    await expectWebvitError(() => clf.embed(images[1]), 'DEVICE_LOST', ['passed to createImageClassifier']); // and every later call
    await clf.dispose();
    // A factory that hands back the lost device is told to request a new one.
    const same = await getNodeDevice();
    devices.push(same);
    const clf2 = await createImageClassifier({ model: MODEL.slice().buffer, device: () => same });
    same.destroy();
    await expectWebvitError(() => clf2.classify(images[0]), 'DEVICE_LOST', ['returned the device that was just lost', 'requestDevice']);
    await clf2.dispose();
  });

  it("dispose() frees webvit's buffers, leaves the app's device working, and later calls are DISPOSED", async () => {
    const device = await getNodeDevice();
    devices.push(device);
    const clf = await createImageClassifier({ model: MODEL.slice().buffer, device });
    const pending = clf.classify(images[3]);
    const first = clf.dispose();
    await clf.dispose(); // a second dispose() waits for the same release
    expect(liveBuffers(device)).toEqual({ buffers: 0, bytes: 0 });
    await first;
    expectMatches(await pending, reference[3], 'call queued before dispose');
    // Counted on the device itself (BufferOwner's per-device tally), not through the disposed classifier.
    expect(liveBuffers(device)).toEqual({ buffers: 0, bytes: 0 });
    expect(await clf.stats()).toMatchObject({ buffers: 0, bytes: 0, textures: 0 });
    await expectWebvitError(() => clf.classify(images[0]), 'DISPOSED', ['disposed']);
    // The device still runs work.
    const b = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, new Uint32Array([1, 2, 3, 4]));
    await b.mapAsync(GPUMapMode.READ);
    expect([...new Uint32Array(b.getMappedRange())]).toEqual([1, 2, 3, 4]);
    b.destroy();
  });

  it('a device already lost is refused by create (DEVICE_LOST) before anything is downloaded', async () => {
    const { fetch, requests } = fakeFetch({ 'https://models.test/m.safetensors': { body: MODEL } });
    const destroyed = await getNodeDevice();
    destroyed.destroy();
    const model = 'https://models.test/m.safetensors';
    await expectWebvitError(() => createImageClassifier({ model, fetch, caches: fakeCaches(), device: destroyed }), 'DEVICE_LOST', ['passed to createImageClassifier', 'already lost', 'destroyed', 'requestDevice']);
    await expectWebvitError(() => createImageClassifier({ model, fetch, caches: fakeCaches(), device: () => destroyed }), 'DEVICE_LOST', ['device function returned', 'already lost']);
    expect(requests).toEqual([]);
  });

  it('option errors: no model, bad maxBatch, device with worker', async () => {
    await expectWebvitError(() => createImageClassifier({} as never), 'BAD_ARGUMENT', ['model']);
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice().buffer, maxBatch: 0 }), 'BAD_ARGUMENT', ['maxBatch']);
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice().buffer, worker: true, device: factory() }), 'BAD_ARGUMENT', ['worker']);
    const e = await createImageClassifier({ model: MODEL.slice().buffer }).catch((x) => x);
    expect(e).toBeInstanceOf(WebvitError);
    expect((e as WebvitError).code).toBe('NO_WEBGPU');
  });
});
