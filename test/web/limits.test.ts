import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebvitError } from '../../src/errors.js';
import { decodeImage } from '../../src/image/decode.js';
import { readWeights } from '../../src/model/weights.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import { headerSize } from '../../src/web/sources.js';
import type { ClassifierOptions, ImageClassifier, RgbaPixels } from '../../src/web/types.js';
import { clearModelCache, download, fetchModel, IMAGE_CAP, statedSize } from '../../src/web/weights.js';
import { caught, expectWebvitError } from '../helpers/errors.js';
import { fakeCaches, fakeFetch } from './fakes.js';
import { joinWeights, splitWeights } from '../helpers/weight_file.js';

// What a hostile page or server can hand the web API (issue 17, "hardening round two"): bodies
// that never end or decompress without bound, options of the wrong kind, values of megabytes
// that must not reach a message whole, a caller's buffer changed after create, and image files
// whose header promises more pixels than a texture holds. Each is refused early, with a
// WebvitError naming the thing, and the bytes read stay bounded.
/** A classifier's calls as JavaScript sees them: any arguments (the types would refuse the hostile ones). */
const untyped = (c: ImageClassifier) => c as unknown as Record<'embed' | 'explain', (...args: unknown[]) => Promise<{ length: number; grid: number }>>;

const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));
const parse = (b: Uint8Array, s: string) => readWeights(b, s);
const URL_ = 'https://example.test/m.safetensors';
const MiB = 2 ** 20;

/** A stream of `head`, then zeros without end (or until `limit`); `pulled` counts the bytes handed out. */
function endless(head: Uint8Array, chunk = 65536) {
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const out = new Uint8Array(chunk);
      if (state.pulled < head.byteLength) out.set(head.subarray(state.pulled, state.pulled + chunk));
      state.pulled += chunk;
      c.enqueue(out);
    },
  });
  return { stream, state };
}

/** A fetch that answers every URL with `body` (a stream), status 200 and `headers`. */
const serving = (make: () => ReadableStream<Uint8Array>, headers: Record<string, string> = {}) => (async () => new Response(make(), { headers })) as unknown as typeof fetch;

describe('downloads are bounded', () => {
  it('statedSize reads a safetensors file size from its first bytes', () => {
    expect(statedSize(MODEL.subarray(0, 4))).toBe(-8);
    const n = Number(new DataView(MODEL.buffer, MODEL.byteOffset).getBigUint64(0, true));
    expect(statedSize(MODEL.subarray(0, 8))).toBe(-(8 + n));
    expect(statedSize(MODEL)).toBe(MODEL.byteLength);
    expect(statedSize(new TextEncoder().encode('<!doctype html><html>'))).toBeUndefined();
  });

  it('a model body that goes on past the size its header states is refused at that size (URL, Response; gzip too)', async () => {
    for (const encoding of [undefined, 'gzip']) {
      const { stream, state } = endless(MODEL);
      const headers = encoding ? { 'content-encoding': encoding } : undefined;
      const msg = await expectWebvitError(() => fetchModel(URL_, { fetch: serving(() => stream, headers), cache: false }, parse), 'BAD_WEIGHTS', [URL_, 'larger than the file states', String(MODEL.byteLength)]);
      expect(msg.length).toBeLessThan(400);
      expect(state.pulled).toBeLessThan(MODEL.byteLength + 4 * 65536);
    }
    const { stream, state } = endless(MODEL);
    await expectWebvitError(() => fetchModel(new Response(stream), {}, parse), 'BAD_WEIGHTS', ['the model Response', 'larger than the file states']);
    expect(state.pulled).toBeLessThan(MODEL.byteLength + 4 * 65536);
  });

  it('an endless body that is not a weight file stops at its first bytes with the parse error', async () => {
    const html = endless(new TextEncoder().encode('<!doctype html><html><body>'.padEnd(200, ' ')));
    await expectWebvitError(() => fetchModel(URL_, { fetch: serving(() => html.stream), cache: false }, parse), 'BAD_WEIGHTS', ['HTML page']);
    expect(html.state.pulled).toBeLessThanOrEqual(4 * 65536);
    const header = new Uint8Array(16);
    new DataView(header.buffer).setBigUint64(0, 40n, true);
    header.set(new TextEncoder().encode('{"a"'), 8); // 40 bytes of header that is not JSON
    const junk = endless(header, 16);
    await expectWebvitError(() => fetchModel(URL_, { fetch: serving(() => junk.stream), cache: false }, parse), 'BAD_WEIGHTS', ['not valid UTF-8 JSON']);
    expect(junk.state.pulled).toBeLessThanOrEqual(64);
  });

  it('running out of memory while reading is a clear error, not "broke off … try again"', async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new RangeError('Array buffer allocation failed'));
      },
    });
    await expectWebvitError(() => fetchModel(new Response(stream), {}, parse), 'BAD_WEIGHTS', ['out of memory', 'too large']);
  });

  it(`an image by URL stops at ${IMAGE_CAP.max / MiB} MiB, naming the URL`, async () => {
    const { stream, state } = endless(new Uint8Array(0), MiB);
    const url = 'https://example.test/huge.png';
    await expectWebvitError(() => download(url, { fetch: serving(() => stream, { 'content-encoding': 'gzip' }) }, 'the image: could not fetch', '', url, IMAGE_CAP), 'BAD_INPUT', [url, `${IMAGE_CAP.max} bytes`]);
    expect(state.pulled).toBeLessThanOrEqual(IMAGE_CAP.max + 4 * MiB);
  });
});

describe('messages stay short whatever the values', () => {
  const huge = 'x'.repeat(2e7);
  const short = async (fn: () => unknown, code: string, fragment: string) => {
    const e = (await caught(fn)) as WebvitError;
    expect(e).toBeInstanceOf(WebvitError);
    expect(e.code, e.message.slice(0, 300)).toBe(code);
    expect(e.message).toContain(fragment);
    expect(e.message.length).toBeLessThan(700);
  };

  it('options, URLs, integrity, statusText', async () => {
    const noDevice = (o: Partial<ClassifierOptions>) => () => createImageClassifier({ model: MODEL.slice(), device: () => Promise.reject(new Error('no device in this test')), ...o } as ClassifierOptions);
    await short(noDevice({ maxBatch: huge as never }), 'BAD_ARGUMENT', 'maxBatch');
    await short(noDevice({ idleTimeoutMs: huge as never }), 'BAD_ARGUMENT', 'idleTimeoutMs');
    await short(noDevice({ integrity: `sha256-${huge}!` }), 'BAD_ARGUMENT', 'integrity');
    await short(() => fetchModel(`http://[${huge}`, {}, parse), 'BAD_ARGUMENT', 'model URL');
    await short(() => clearModelCache(`http://[${huge}`, 'c', fakeCaches()), 'BAD_ARGUMENT', 'model URL');
    // Round six: a number or an object returned false, as if nothing were cached.
    await short(() => clearModelCache(42 as never, 'c', fakeCaches()), 'BAD_ARGUMENT', 'url must be');
    await short(() => clearModelCache({} as never, 'c', fakeCaches()), 'BAD_ARGUMENT', 'url must be');
    await short(() => clearModelCache(undefined, 7 as never, fakeCaches()), 'BAD_ARGUMENT', 'cacheName must be a string');
    const net = fakeFetch();
    await short(() => fetchModel(`https://example.test/m?${'x'.repeat(2 ** 20)}`, { fetch: net.fetch, cache: false }, parse), 'NETWORK', '404');
    // Past the 2 MiB browsers take (Chromium's Cache Storage matched such a URL to another model's entry).
    await short(() => fetchModel(`https://example.test/m?${huge}`, { fetch: net.fetch, cache: false }, parse), 'BAD_ARGUMENT', 'longer than browsers take');
    const status = (async () => new Response('no', { status: 500, statusText: 'E'.repeat(200_000) })) as unknown as typeof fetch;
    await short(() => fetchModel(URL_, { fetch: status, cache: false }, parse), 'NETWORK', '500 EEEE');
    await short(() => fetchModel(new Response('no', { status: 500, statusText: 'E'.repeat(200_000) }), {}, parse), 'NETWORK', '500 EEEE');
    const sri = await caught(() => fetchModel(MODEL.slice(), { integrity: `sha256-${'A'.repeat(2e6)}=` }, parse));
    expect((sri as WebvitError).code).toBe('BAD_WEIGHTS');
    expect((sri as Error).message.length).toBeLessThan(700);
  });
});

describe("an app's fetch that misbehaves (hostile run, round 3)", () => {
  it('one that throws at once is NETWORK, as one that rejects (was GPU); one that gives no Response is NETWORK saying so (was "HTTP undefined")', async () => {
    const throws = (() => {
      throw new TypeError('nope');
    }) as unknown as typeof fetch;
    await expectWebvitError(() => fetchModel(URL_, { fetch: throws, cache: false }, parse), 'NETWORK', [URL_, 'nope']);
    const answer42 = (async () => 42) as unknown as typeof fetch;
    await expectWebvitError(() => fetchModel(URL_, { fetch: answer42, cache: false }, parse), 'NETWORK', [URL_, 'fetch() gave number, not a Response']);
  });
});

describe('options are checked at create, each named, before the device or the download', () => {
  const requested: string[] = [];
  const device = () => {
    requested.push('device');
    return Promise.reject(new Error('no device in this test'));
  };
  const create = (o: Record<string, unknown>) => () => createImageClassifier({ model: MODEL.slice(), device, ...o } as ClassifierOptions);

  it('wrong kinds of option', async () => {
    await expectWebvitError(create({ integrity: 5 }), 'BAD_ARGUMENT', ['integrity "5"', 'sha256-']);
    await expectWebvitError(create({ caches: {} }), 'BAD_ARGUMENT', ['caches must be a CacheStorage']);
    await expectWebvitError(create({ tune: 'yes' }), 'BAD_ARGUMENT', ['tune must be true, false or a TuneStore']);
    await expectWebvitError(create({ fetch: 'x' }), 'BAD_ARGUMENT', ['fetch must be a function']);
    await expectWebvitError(create({ worker: true, device: undefined, fetch: globalThis.fetch }), 'BAD_ARGUMENT', ['`device`, `fetch` and `caches` cannot go to a worker']);
    await expectWebvitError(create({ worker: true, device: undefined, caches: fakeCaches() }), 'BAD_ARGUMENT', ['`device`, `fetch` and `caches` cannot go to a worker']);
    expect(requested).toEqual([]);
  });

  it('a used Response, a detached ArrayBuffer (or a view on one)', async () => {
    const used = new Response(MODEL.slice());
    await used.arrayBuffer();
    await expectWebvitError(create({ model: used }), 'BAD_ARGUMENT', ['model', 'already read']);
    const buf = MODEL.slice().buffer;
    const view = new Uint8Array(buf, 8);
    structuredClone(buf, { transfer: [buf] });
    await expectWebvitError(create({ model: buf }), 'BAD_ARGUMENT', ['model', 'detached']);
    await expectWebvitError(create({ model: view }), 'BAD_ARGUMENT', ['model', 'detached']);
    expect(requested).toEqual([]);
  });

  it('an option whose getter throws, or whose value cannot be turned into text: BAD_ARGUMENT naming it, each read once', async () => {
    for (const key of ['maxBatch', 'model', 'worker', 'signal', 'idleTimeoutMs', 'onProgress']) {
      const o: Record<string, unknown> = { model: MODEL.slice(), device };
      Object.defineProperty(o, key, { enumerable: true, get: () => { throw new RangeError(`${key} getter says no`); } });
      await expectWebvitError(() => createImageClassifier(o as unknown as ClassifierOptions), 'BAD_ARGUMENT', [`options.${key} could not be read`, `${key} getter says no`]);
    }
    // A Proxy whose every trap throws is refused at its first option, not with a raw TypeError.
    const proxy = new Proxy({}, { get: () => { throw new TypeError('trap'); } });
    await expectWebvitError(() => createImageClassifier(proxy as ClassifierOptions), 'BAD_ARGUMENT', ['options.model could not be read', 'trap']);
    // Values whose String() throws are described by kind.
    const noText = { toString() { throw new Error('no text'); } };
    await expectWebvitError(create({ maxBatch: noText }), 'BAD_ARGUMENT', ['maxBatch must be a whole number', 'got Object']);
    await expectWebvitError(create({ idleTimeoutMs: Object.create(null) }), 'BAD_ARGUMENT', ['idleTimeoutMs must be whole milliseconds', 'got Object']);
    // A getter that answers differently each time is read once: the value checked is the value used.
    let reads = 0;
    const flip: Record<string, unknown> = { model: MODEL.slice(), device };
    Object.defineProperty(flip, 'maxBatch', { enumerable: true, get: () => (reads++ === 0 ? 'many' : 4) });
    await expectWebvitError(() => createImageClassifier(flip as unknown as ClassifierOptions), 'BAD_ARGUMENT', ['maxBatch must be a whole number', 'got the string "many"']);
    expect(reads).toBe(1);
    expect(requested).toEqual([]);
  });
});

describe('on Dawn', () => {
  let image: RgbaPixels;
  const devices: GPUDevice[] = [];
  const factory = async () => {
    const d = await getNodeDevice();
    devices.push(d);
    return d;
  };
  let clf: ImageClassifier;

  beforeAll(async () => {
    const f = readdirSync(join(REPO, 'examples')).find((x) => x.endsWith('.png'))!;
    const d = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', f))), f);
    image = { data: d.rgba, width: d.width, height: d.height };
    clf = await createImageClassifier({ model: MODEL.slice(), device: factory });
  });
  afterAll(async () => {
    await clf.dispose();
    for (const d of devices) d.destroy();
  });

  it('classify/profile options that are not an object, or whose getter throws: BAD_ARGUMENT', async () => {
    await expectWebvitError(() => clf.classify(image, null as never), 'BAD_ARGUMENT', ['options must be an object', 'null']);
    await expectWebvitError(() => clf.profile(image, null as never), 'BAD_ARGUMENT', ['options must be an object', 'null']);
    const getter = {
      get topK(): number {
        throw new Error('getter says no');
      },
    };
    await expectWebvitError(() => clf.classify(image, getter), 'BAD_ARGUMENT', ['options.topK could not be read', 'getter says no']);
    const msg = await expectWebvitError(() => clf.classify(image, { topK: 'x'.repeat(2e7) as never }), 'BAD_INPUT', ['topK']);
    expect(msg.length).toBeLessThan(700);
    expect((await clf.classify(image, { topK: 2 })).length).toBe(2);
  });

  // Round eight: explain(img, { layer }) ignored the option, embed(img, null) was accepted, a
  // typo (topk, maxbatch) did nothing, and profile's topK on a features-only model was dropped.
  it('unknown or wrong-kind options of every call, and of createImageClassifier: BAD_ARGUMENT naming them', async () => {
    await expectWebvitError(() => untyped(clf).explain(image, { layer: 2 }), 'BAD_ARGUMENT', ['explain: unknown option layer; it takes none']);
    for (const wrong of [null, 5, 'x', [1]]) await expectWebvitError(() => untyped(clf).embed(image, wrong as never), 'BAD_ARGUMENT', ['embed: options must be an object']);
    await expectWebvitError(() => untyped(clf).embed([image, image], { topK: 3 } as never), 'BAD_ARGUMENT', ['embed: unknown option topK; it takes none']);
    await expectWebvitError(() => untyped(clf).explain(image, null as never), 'BAD_ARGUMENT', ['explain: options must be an object', 'null']);
    await expectWebvitError(() => clf.classify(image, { topk: 3 } as never), 'BAD_ARGUMENT', ['classify: unknown option topk; it takes topK']);
    await expectWebvitError(() => clf.profile(image, { topK: 1, batch: 2 } as never), 'BAD_ARGUMENT', ['profile: unknown option batch; it takes topK']);
    // A Proxy whose ownKeys trap throws is a BAD_ARGUMENT too, not its TypeError.
    const keysTrap = new Proxy({}, { ownKeys: () => { throw new TypeError('no keys'); } });
    await expectWebvitError(() => clf.classify(image, keysTrap), 'BAD_ARGUMENT', ['could not be read', 'no keys']);
    await expectWebvitError(() => untyped(clf).embed(image, keysTrap as never), 'BAD_ARGUMENT', ['could not be read', 'no keys']);
    await expectWebvitError(() => createImageClassifier({ model: MODEL.slice(), device: factory, maxbatch: 2 } as ClassifierOptions), 'BAD_ARGUMENT', ['createImageClassifier: unknown option maxbatch', 'it takes model, device, onProgress']);
    // {} and undefined are no options; the calls still work.
    expect((await untyped(clf).embed(image, {} as never)).length).toBeGreaterThan(0);
    expect((await untyped(clf).explain(image, undefined as never)).grid).toBeGreaterThan(0);
    expect((await clf.classify(image, {})).length).toBe(5);
    // A features-only model: profile's topK is refused as classify is (it was dropped).
    const parts = splitWeights(MODEL);
    parts.tensors = parts.tensors.filter((t) => !t.name.startsWith('head.'));
    parts.config.num_classes = 0;
    parts.labels = undefined;
    const features = await createImageClassifier({ model: joinWeights(parts), device: factory });
    try {
      await expectWebvitError(() => features.profile(image, { topK: 1 }), 'BAD_INPUT', ['no classifier (num_classes 0)', 'use embed()']);
      await expectWebvitError(() => features.classify(image), 'BAD_INPUT', ['no classifier (num_classes 0)']);
      expect((await features.profile(image)).top).toEqual([]);
    } finally {
      await features.dispose();
    }
  });

  it('a PNG whose header is larger than a texture is refused from its header, by Blob or URL', async () => {
    const max = devices[0].limits.maxTextureDimension2D;
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 6, 0, 0, 0]);
    expect(headerSize(png)).toEqual({ width: 20000, height: 20000 });
    await expectWebvitError(() => clf.classify(new Blob([png], { type: 'image/png' })), 'BAD_INPUT', ['20000×20000', `at most ${max} a side`]);
    const url = 'https://example.test/big.png';
    const viaUrl = await createImageClassifier({ model: MODEL.slice(), device: factory, fetch: fakeFetch({ [url]: { body: png } }).fetch });
    try {
      await expectWebvitError(() => viaUrl.classify(url), 'BAD_INPUT', ['20000×20000', `at most ${max} a side`]);
    } finally {
      await viaUrl.dispose();
    }
  });

  it('an onProgress that throws does not fail create: reported once on the console', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      let calls = 0;
      const c = await createImageClassifier({
        model: MODEL.slice(),
        device: factory,
        onProgress: () => {
          calls++;
          throw new Error('progress bar bug');
        },
      });
      await c.dispose();
      expect(calls).toBeGreaterThan(1);
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0])).toContain('onProgress');
    } finally {
      error.mockRestore();
    }
  });

  it('an async onProgress that rejects: reported once on the console, no unhandled rejection', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      let calls = 0;
      const c = await createImageClassifier({
        model: MODEL.slice(),
        device: factory,
        onProgress: async () => {
          calls++;
          throw new Error('async progress bar bug');
        },
      });
      await c.dispose();
      await new Promise((r) => setTimeout(r, 50)); // unhandled rejections are reported after a turn
      expect(calls).toBeGreaterThan(1);
      expect(unhandled).toEqual([]);
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0])).toContain('async progress bar bug');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      error.mockRestore();
    }
  });

  it('the model bytes are copied at create: changing the caller buffer does not change the answers after a device loss', async () => {
    const mine = MODEL.slice();
    const c = await createImageClassifier({ model: mine.buffer, device: factory });
    try {
      const before = await c.classify(image);
      mine.fill(0, mine.byteLength >> 1); // the second half is tensor data
      devices.at(-1)!.destroy();
      expect(await c.classify(image)).toEqual(before);
      expect(c.info.recoveries).toBe(1);
    } finally {
      await c.dispose();
    }
  });
});
