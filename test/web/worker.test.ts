import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebvitError } from '../../src/errors.js';
import { decodeImage } from '../../src/image/decode.js';
import { dawnInstanceFlags, getNodeDevice } from '../../src/runtime/node-device.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import type { Classification, ClassifierOptions, ImageClassifier, RgbaPixels, WebProgress } from '../../src/web/types.js';
import { expectWebvitError } from '../helpers/errors.js';
import { startStallServer } from './fakes.js';

// Worker mode in Node: the page side (WorkerClassifier) and the worker's message handler
// (src/web/worker.ts) joined by an in-process message channel that structured-clones (and
// transfers) every message as postMessage does. The worker makes its own device from
// navigator.gpu, here Dawn's: so this also covers "webvit made the device" (loss recovery with a
// device of its own, and dispose destroying it). Chromium runs the real Worker in
// test/browser/api.test.ts.
/** A classifier's calls as JavaScript sees them: any arguments (the types would refuse the hostile ones). */
const untyped = (c: ImageClassifier) => c as unknown as Record<'embed' | 'explain', (...args: unknown[]) => Promise<{ length: number; grid: number }>>;

const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));
const EXAMPLES = readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.png')).sort();
const images: RgbaPixels[] = [];
const reference: Classification[][] = [];
/** Devices the worker side asked navigator.gpu for. */
const made: GPUDevice[] = [];

interface Port {
  onmessage: ((e: { data: unknown }) => void) | null;
  postMessage(m: unknown, transfer?: Transferable[]): void;
}
const workerSide: Port = { onmessage: null, postMessage: () => undefined };

/** A Worker stand-in whose messages reach worker.ts's handler (and back) as structured clones. */
function fakeWorker(): Worker & { terminated: boolean } {
  const page = {
    onmessage: null as ((e: { data: unknown }) => void) | null,
    onerror: null,
    onmessageerror: null,
    terminated: false,
    postMessage(m: unknown, transfer: Transferable[] = []) {
      const data = structuredClone(m, { transfer });
      setTimeout(() => !page.terminated && workerSide.onmessage?.({ data }));
    },
    terminate() {
      page.terminated = true;
    },
  };
  workerSide.postMessage = (m, transfer = []) => {
    const data = structuredClone(m, { transfer });
    setTimeout(() => !page.terminated && page.onmessage?.({ data }));
  };
  return page as unknown as Worker & { terminated: boolean };
}

beforeAll(async () => {
  const d = await getNodeDevice(); // puts Dawn's GPU* globals in place
  const main = await createImageClassifier({ model: MODEL.slice(), device: d });
  for (const f of EXAMPLES) {
    const img = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', f))), f);
    images.push({ data: img.rgba, width: img.width, height: img.height });
    reference.push(await main.classify(images.at(-1)!, { topK: 5 }));
  }
  await main.dispose();
  d.destroy();
  // navigator.gpu for the worker side, recording each device it hands out.
  const gpu = (createRequire(import.meta.url)('webgpu') as { create: (f: string[]) => GPU }).create(dawnInstanceFlags());
  const recording = {
    requestAdapter: async (o?: GPURequestAdapterOptions) => {
      const a = await gpu.requestAdapter(o);
      if (!a) return a;
      return new Proxy(a, {
        get: (t, p) =>
          p === 'requestDevice'
            ? async (desc?: GPUDeviceDescriptor) => {
                const dev = await t.requestDevice(desc);
                made.push(dev);
                return dev;
              }
            : Reflect.get(t, p, t),
      });
    },
  };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: recording }, configurable: true });
  Object.defineProperty(globalThis, 'self', { value: workerSide, configurable: true });
  await import('../../src/web/worker.js');
  expect(typeof workerSide.onmessage).toBe('function');
});

afterAll(() => {
  for (const d of made) d.destroy();
  delete (globalThis as { navigator?: unknown }).navigator;
  delete (globalThis as { self?: unknown }).self;
});

const same = (got: Classification[], want: Classification[], what: string) => {
  expect(got.map((c) => [c.index, c.label]), what).toEqual(want.slice(0, got.length).map((c) => [c.index, c.label]));
  got.forEach((c, i) => expect(Math.abs(c.score - want[i].score), what).toBeLessThanOrEqual(1e-5));
};

describe('worker mode (in-process channel)', () => {
  let clf: ImageClassifier;
  let worker: Worker & { terminated: boolean };
  beforeAll(async () => {
    worker = fakeWorker();
    const progress: string[] = [];
    clf = await createImageClassifier({ model: MODEL.slice().buffer, worker, onProgress: (e) => progress.push(e.stage) });
    expect(progress).toContain('compile'); // the worker's compile events reach the page
  });

  it('classifies, embeds and profiles like the main-thread classifier; info comes from the worker', async () => {
    expect(clf.info).toMatchObject({ worker: true, device: 'webvit', recoveries: 0 });
    expect(clf.info.labels.length).toBe(10);
    for (const [i, img] of images.entries()) same(await clf.classify(img, { topK: 5 }), reference[i], EXAMPLES[i]);
    const rows = await clf.classify(images, { topK: 2 });
    rows.forEach((r, i) => same(r, reference[i], `${EXAMPLES[i]} in an array`));
    const f = await clf.embed(images[0]);
    expect(f).toBeInstanceOf(Float32Array);
    expect(f.length).toBe(clf.info.config.hidden_size);
    const p = await clf.profile(images[3], { topK: 1 });
    same(p.top, reference[3], 'profile');
    expect(p.dispatches.length).toBeGreaterThan(5);
    const s = await clf.stats();
    expect(s.buffers).toBeGreaterThan(0);
  });

  it('concurrent calls get their own results; errors cross as WebvitErrors with their code', async () => {
    const order = [3, 1, 4, 1, 5, 2, 0, 5];
    const tops = await Promise.all(order.map((j) => clf.classify(images[j], { topK: 3 })));
    tops.forEach((t, i) => same(t, reference[order[i]], `call ${i}`));
    await expectWebvitError(() => clf.classify([images[0], { data: new Uint8Array(3), width: 1, height: 1 }]), 'BAD_INPUT', ['image 1', '3 bytes']);
    await expectWebvitError(() => clf.classify(images[0], { topK: 0 }), 'BAD_INPUT', ['topK']);
    same(await clf.classify(images[2]), reference[2], 'after errors');
  });

  it("a lost device of the worker's own is replaced on the next call", async () => {
    const before = made.length;
    made.at(-1)!.destroy();
    same(await clf.classify(images[4], { topK: 5 }), reference[4], 'after loss');
    expect(made.length).toBe(before + 1);
    expect(clf.info.recoveries).toBe(1);
  });

  it('dispose frees the worker side, destroys the device webvit made and ends the worker', async () => {
    const device = made.at(-1)!;
    const lost = device.lost.then((i) => i.reason);
    await clf.dispose();
    expect(await lost).toBe('destroyed');
    expect(worker.terminated).toBe(true);
    await expectWebvitError(() => clf.classify(images[0]), 'DISPOSED', ['disposed']);
  });
});

describe('worker failures', () => {
  it('a worker that fails before it answers is a WORKER error naming webvit.worker.js', async () => {
    const broken = {
      onerror: null as ((e: Partial<ErrorEvent>) => void) | null,
      postMessage() {
        setTimeout(() => broken.onerror?.({ message: 'Failed to load module script', preventDefault: () => undefined }));
      },
      terminate() {},
    };
    const e = await createImageClassifier({ model: MODEL.slice().buffer, worker: broken as unknown as Worker }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WebvitError);
    expect((e as WebvitError).code).toBe('WORKER');
    expect((e as WebvitError).message).toMatch(/webvit\.worker\.js.*|Failed to load module script/);
  });

  it('a worker of another build (its hello answers another version) is a WORKER error; the create is never sent', async () => {
    const sent: string[] = [];
    const other = {
      onmessage: null as ((e: { data: unknown }) => void) | null,
      postMessage(m: { id: number; type: string }) {
        sent.push(m.type);
        setTimeout(() => other.onmessage?.({ data: { id: m.id, ok: true, value: 999 } }));
      },
      terminate() {},
    };
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice().buffer, worker: other as unknown as Worker }), 'WORKER', ['version 999', 'another build']);
    expect(sent).toEqual(['hello']);
  });

  it('worker: true without Worker support, and a TuneStore, are refused', async () => {
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice().buffer, worker: true }), 'BAD_ARGUMENT', ['Web Workers']);
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice().buffer, worker: fakeWorker(), tune: { get: () => undefined, set: () => undefined } as never }), 'BAD_ARGUMENT', ['TuneStore']);
  });
});

describe('without WebGPU nothing is downloaded (page and worker)', () => {
  it('an adapter request that finds none: NO_ADAPTER before any fetch, on the page and in the worker', async () => {
    const gpu = navigator.gpu as { requestAdapter: GPU['requestAdapter'] };
    const real = gpu.requestAdapter;
    gpu.requestAdapter = async () => null;
    const fetches = vi.spyOn(globalThis, 'fetch');
    try {
      for (const worker of [undefined, fakeWorker()]) {
        // Port 9 (discard): a download would fail with NETWORK, after its fetch.
        const e = await outcome(() => createImageClassifier({ model: 'http://127.0.0.1:9/model.safetensors', cache: false, worker }));
        expect(e, worker ? 'worker' : 'page').toMatchObject({ name: 'WebvitError', code: 'NO_ADAPTER' });
        expect(fetches, worker ? 'worker' : 'page').not.toHaveBeenCalled();
      }
    } finally {
      gpu.requestAdapter = real;
      fetches.mockRestore();
    }
  });

  it("a device factory that fails: its error, and the app's fetch is never called", async () => {
    let calls = 0;
    const fetch = (async () => {
      calls++;
      return new Response(MODEL.slice());
    }) as typeof globalThis.fetch;
    const device = async (): Promise<GPUDevice> => {
      throw new WebvitError('NO_ADAPTER', 'no adapter here');
    };
    await expectWebvitError(() => createImageClassifier({ model: 'http://127.0.0.1:9/model.safetensors', cache: false, fetch, device }), 'NO_ADAPTER', ['no adapter here']);
    expect(calls).toBe(0);
  });
});

describe('stats() after dispose()', () => {
  it('returns zeros and the calls made, the same on the page and in the worker', async () => {
    const got: unknown[] = [];
    for (const worker of [undefined, fakeWorker()]) {
      const clf = await createImageClassifier({ model: MODEL.slice(), worker });
      await clf.classify(images[0]);
      await clf.dispose();
      got.push(await clf.stats().then((s) => ({ stats: s }), (e: WebvitError) => ({ error: `${e.code}: ${e.message}` })));
    }
    expect(got[0]).toEqual({ stats: { buffers: 0, bytes: 0, textures: 0, textureBytes: 0, calls: 1 } });
    expect(got[1]).toEqual(got[0]);
  });
});

/** What a call gave: its error as {name, code, message}, or that it succeeded. */
async function outcome(fn: () => Promise<unknown>): Promise<{ name: string; code?: string; message: string } | 'ok'> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    const x = e as WebvitError;
    return { name: x?.name, code: x?.code, message: String(x?.message ?? e) };
  }
}

describe('page mode and worker mode refuse the same input with the same WebvitError', () => {
  it('sources and topK (pixels in memory, URLs, other values): same name, code and message', async () => {
    const page = await createImageClassifier({ model: MODEL.slice() });
    const inWorker = await createImageClassifier({ model: MODEL.slice(), worker: fakeWorker() });
    const detached = () => {
      const d = new Uint8ClampedArray(16);
      structuredClone(d.buffer, { transfer: [d.buffer] });
      return { data: d, width: 2, height: 2 };
    };
    const cases: [string, (c: ImageClassifier) => Promise<unknown>][] = [
      ['an invalid URL', (c) => c.classify('http://[bad')],
      ['an invalid URL in an array', (c) => c.classify([images[0], 'http://[bad'])],
      ['a URL nothing answers', (c) => c.classify('http://127.0.0.1:9/none.png')],
      ['ImageData whose buffer was transferred', (c) => c.classify(detached())],
      ['profile() of it', (c) => c.profile(detached())],
      ['pixels of the wrong length', (c) => c.classify({ data: new Uint8Array(5), width: 2, height: 2 })],
      ['a 0×3 image', (c) => c.embed({ data: new Uint8Array(0), width: 0, height: 3 })],
      ['a number', (c) => c.classify(42 as never)],
      ['null in an array', (c) => c.classify([images[0], null as never])],
      ['a plain object', (c) => c.explain({} as never)],
      ['topK 0', (c) => c.classify(images[0], { topK: 0 })],
      ['topK a 20 MB string', (c) => c.classify(images[0], { topK: 'x'.repeat(2e7) as never })],
      ['options null', (c) => c.classify(images[0], null as never)],
      ['profile() options null', (c) => c.profile(images[0], null as never)],
      ['options whose topK getter throws', (c) => c.classify(images[0], { get topK(): number { throw new Error('no'); } })],
      // Round eight: ignored options and a wrong-kind second argument.
      ['explain() with { layer }', (c) => untyped(c).explain(images[0], { layer: 1 } as never)],
      ['embed() options null', (c) => untyped(c).embed(images[0], null as never)],
      ['embed() of an array with { topK }', (c) => untyped(c).embed([images[0]], { topK: 2 } as never)],
      ['classify() with a typo, topk', (c) => c.classify(images[0], { topk: 2 } as never)],
      ['profile() with an unknown option', (c) => c.profile(images[0], { topK: 1, features: true } as never)],
    ];
    try {
      for (const [what, fn] of cases) {
        const want = await outcome(() => fn(page));
        expect(want, what).not.toBe('ok');
        expect(want, what).toMatchObject({ name: 'WebvitError' });
        expect(await outcome(() => fn(inWorker)), what).toEqual(want);
      }
      // Both still work.
      same(await page.classify(images[1]), reference[1], 'page after errors');
      same(await inWorker.classify(images[1]), reference[1], 'worker after errors');
    } finally {
      await page.dispose();
      await inWorker.dispose();
    }
  });

  it('createImageClassifier options: same name, code and message', async () => {
    const cases: [string, Partial<ClassifierOptions>][] = [
      ['an invalid model URL', { model: 'http://[bad' }],
      ['no model', { model: undefined }],
      ['maxBatch 0', { maxBatch: 0 }],
      ['onProgress not a function', { onProgress: 3 as never }],
      ['a signal that is not an AbortSignal', { signal: 'stop' as never }],
      ['a signal already aborted', { signal: AbortSignal.abort() }],
      ['idleTimeoutMs -1', { idleTimeoutMs: -1 }],
      ['idleTimeoutMs 2.5', { idleTimeoutMs: 2.5 }],
      ['integrity 5', { integrity: 5 as never }],
      ['tune "yes"', { tune: 'yes' as never }],
      ['an unknown option (a typo)', { maxbatch: 2 } as never],
      ['a detached ArrayBuffer', { model: ((b: ArrayBuffer) => (structuredClone(b, { transfer: [b] }), b))(MODEL.slice().buffer) }],
    ];
    for (const [what, o] of cases) {
      const want = await outcome(() => createImageClassifier({ model: MODEL.slice(), ...o }));
      expect(want, what).toMatchObject({ name: 'WebvitError' });
      const worker = fakeWorker();
      expect(await outcome(() => createImageClassifier({ model: MODEL.slice(), ...o, worker })), what).toEqual(want);
    }
  });
});

describe('options the worker cannot send', () => {
  // Round eight: an unknown option (a typo such as maxbatch) was ignored; it is refused, naming it,
  // before anything is sent (a function there was once a DataCloneError).
  it('an unknown option is refused naming it, before anything is sent; an onProgress that throws is reported once, as on the page', async () => {
    const worker = fakeWorker();
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice(), worker, foo: () => 1, maxbatch: 2 } as ClassifierOptions), 'BAD_ARGUMENT', ['createImageClassifier: unknown option foo, maxbatch', 'it takes model, device,']);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const onProgress = () => {
        throw new Error('progress bar bug');
      };
      const clf = await createImageClassifier({ model: MODEL.slice(), worker: fakeWorker(), onProgress } as ClassifierOptions);
      same(await clf.classify(images[0]), reference[0], 'worker');
      await clf.dispose();
      expect(error).toHaveBeenCalledTimes(1);
    } finally {
      error.mockRestore();
    }
  });
});

describe('posting fails', () => {
  it('a postMessage that throws (DataCloneError) rejects that call with a WebvitError; the next call works', async () => {
    const worker = fakeWorker();
    const clf = await createImageClassifier({ model: MODEL.slice(), worker });
    try {
      const post = worker.postMessage.bind(worker);
      worker.postMessage = () => {
        throw new DOMException('An object could not be cloned.', 'DataCloneError');
      };
      await expectWebvitError(() => clf.classify(images[0]), 'BAD_INPUT', ['DataCloneError', 'could not be cloned']);
      worker.postMessage = post;
      same(await clf.classify(images[0]), reference[0], 'after the failed post');
    } finally {
      await clf.dispose();
    }
  });
});

describe('signal and idle timeout (a server on 127.0.0.1)', () => {
  let server: Awaited<ReturnType<typeof startStallServer>>;
  beforeAll(async () => {
    server = await startStallServer(MODEL, 4096);
  });
  afterAll(() => server.close());
  const closed = (path: string) => vi.waitFor(() => expect(server.closed(path), `${path} closed by the client`).toBe(true), { timeout: 3000, interval: 20 });

  it('worker mode: the abort crosses as a message; the download is cancelled and the worker ended', async () => {
    const worker = fakeWorker();
    const ac = new AbortController();
    const onProgress = (e: WebProgress) => e.stage === 'download' && e.done > 0 && ac.abort();
    const t0 = performance.now();
    await expectWebvitError(() => createImageClassifier({ model: `${server.url}/stall`, worker, signal: ac.signal, onProgress, cache: false }), 'ABORTED', [`${server.url}/stall`, 'while downloading', '4096 of']);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(worker.terminated).toBe(true);
    await closed('/stall');
  });

  it('worker mode: a stalled download is a NETWORK error after idleTimeoutMs', async () => {
    const worker = fakeWorker();
    await expectWebvitError(() => createImageClassifier({ model: `${server.url}/stall`, worker, idleTimeoutMs: 200, cache: false }), 'NETWORK', [`${server.url}/stall`, 'stalled', `4096 of ${MODEL.byteLength} bytes`]);
    expect(worker.terminated).toBe(true);
    await closed('/stall');
  });

  it('an image URL that stalls is a NETWORK error after idleTimeoutMs, the same on the page and in the worker; later calls work', async () => {
    const page = await createImageClassifier({ model: MODEL.slice(), idleTimeoutMs: 300 });
    const inWorker = await createImageClassifier({ model: MODEL.slice(), idleTimeoutMs: 300, worker: fakeWorker() });
    try {
      const url = `${server.url}/stall`;
      const t0 = performance.now();
      const want = await outcome(() => page.classify(url));
      expect(performance.now() - t0).toBeLessThan(10_000);
      expect(want).toMatchObject({ name: 'WebvitError', code: 'NETWORK' });
      for (const part of [`download of ${url} (the image) stalled`, `4096 of ${MODEL.byteLength} bytes`]) expect((want as { message: string }).message).toContain(part);
      await closed('/stall');
      expect(await outcome(() => inWorker.classify(url))).toEqual(want);
      await closed('/stall');
      same(await page.classify(images[0]), reference[0], 'page after the stall');
      same(await inWorker.classify(images[0]), reference[0], 'worker after the stall');
    } finally {
      await page.dispose();
      await inWorker.dispose();
    }
  });

  it('aborted while the model compiles (page and worker): ABORTED, and the device webvit made is destroyed', async () => {
    for (const worker of [undefined, fakeWorker()]) {
      const ac = new AbortController();
      const before = made.length;
      const onProgress = (e: WebProgress) => e.stage === 'compile' && ac.abort();
      await expectWebvitError(() => createImageClassifier({ model: MODEL.slice(), worker, signal: ac.signal, onProgress }), 'ABORTED', ['while the model compiled']);
      expect(made.length, worker ? 'worker' : 'page').toBe(before + 1);
      expect(await made.at(-1)!.lost.then((i) => i.reason)).toBe('destroyed');
    }
  });
});

describe('dispose, abort and call order: the same on the page and in the worker', () => {
  let server: Awaited<ReturnType<typeof startStallServer>>;
  beforeAll(async () => {
    server = await startStallServer(MODEL, 4096);
  });
  afterAll(() => server.close());

  it('dispose() gives up an image download that stalls with no idle timeout (after its grace): the call is DISPOSED', { timeout: 15_000 }, async () => {
    for (const worker of [undefined, fakeWorker()]) {
      const what = worker ? 'worker' : 'page';
      const clf = await createImageClassifier({ model: MODEL.slice(), idleTimeoutMs: 0, worker });
      const call = outcome(() => clf.classify(`${server.url}/stall`));
      await vi.waitFor(() => expect(server.seen.filter((s) => s.path === '/stall').length, what).toBeGreaterThan(0), { timeout: 3000, interval: 20 });
      await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      await clf.dispose();
      expect(performance.now() - t0, what).toBeLessThan(5000);
      expect(await call, what).toEqual({ name: 'WebvitError', code: 'DISPOSED', message: 'the classifier was disposed; create a new one' });
      await vi.waitFor(() => expect(server.closed('/stall'), `${what}: /stall closed by the client`).toBe(true), { timeout: 3000, interval: 20 });
      server.seen.length = 0;
    }
  });

  it('an image URL classified just before dispose() is downloaded and read, in both modes', async () => {
    const got = [];
    for (const worker of [undefined, fakeWorker()]) {
      const clf = await createImageClassifier({ model: MODEL.slice(), worker });
      const call = outcome(() => clf.classify(`${server.url}/model`));
      await clf.dispose();
      got.push(await call);
    }
    // Node has no createImageBitmap: the error after the download is what shows it was not cut short.
    expect(got[0]).toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('needs createImageBitmap') });
    expect(got[1]).toEqual(got[0]);
  });

  it('calls made before dispose() finish, calls after it are DISPOSED (dispose runs after the calls in flight)', async () => {
    for (const worker of [undefined, fakeWorker()]) {
      const what = worker ? 'worker' : 'page';
      const clf = await createImageClassifier({ model: MODEL.slice(), worker });
      const calls: Promise<unknown>[] = [];
      let disposed: Promise<void> | undefined;
      for (let i = 0; i < 10; i++) {
        if (i === 6) disposed = clf.dispose();
        calls.push(outcome(() => clf.classify(images[i % images.length], { topK: 5 })).then((o) => (o === 'ok' ? 'ok' : o.code)));
      }
      await disposed;
      expect(await Promise.all(calls), what).toEqual([...Array(6).fill('ok'), ...Array(4).fill('DISPOSED')]);
    }
  });

  it('after dispose() info names no adapter, in both modes', async () => {
    const infos = [];
    for (const worker of [undefined, fakeWorker()]) {
      const clf = await createImageClassifier({ model: MODEL.slice(), worker });
      await clf.dispose();
      const { adapter, kernels, preprocess } = clf.info;
      infos.push({ adapter, kernels, preprocess });
    }
    expect(infos[0]).toMatchObject({ adapter: 'none (disposed)' });
    expect(infos[1]).toEqual(infos[0]);
  });

  it('aborted at the last compile event: ABORTED in both modes, and the device webvit made is destroyed', async () => {
    for (const worker of [undefined, fakeWorker()]) {
      const what = worker ? 'worker' : 'page';
      const ac = new AbortController();
      const before = made.length;
      const onProgress = (e: WebProgress) => e.stage === 'compile' && e.total !== undefined && e.done === e.total && ac.abort();
      await expectWebvitError(() => createImageClassifier({ model: MODEL.slice(), worker, signal: ac.signal, onProgress }), 'ABORTED', ['while the model compiled']);
      expect(made.length, what).toBe(before + 1);
      expect(await made.at(-1)!.lost.then((i) => i.reason), what).toBe('destroyed');
    }
  });

  it('a worker that never answers: the signal ends the handshake at once (ABORTED), not its 10 s timeout', async () => {
    const silent = { postMessage() {}, terminate() {} } as unknown as Worker;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = performance.now();
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice(), worker: silent, signal: ac.signal }), 'ABORTED', ['before the worker started']);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
