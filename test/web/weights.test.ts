import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readWeights } from '../../src/model/weights.js';
import { clearModelCache, DEFAULT_CACHE, fetchModel, type FetchModelOptions } from '../../src/web/weights.js';
import type { WebProgress } from '../../src/web/types.js';
import { expectWebvitError } from '../helpers/errors.js';
import { freshSeed, rng } from '../helpers/random.js';
import { fakeCaches, fakeFetch, startStallServer } from './fakes.js';

// Weights over the network (src/web/weights.ts) with a fake fetch and Cache Storage: streamed
// download with progress, Cache Storage on the second visit, SRI integrity, and one clear
// WebvitError for each way a download goes wrong. Nothing broken is ever cached.
const MODEL = new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'models', 'fashion-mnist', 'model.safetensors')));
const URL_ = 'https://example.test/models/fm.safetensors';
const parse = (b: Uint8Array, s: string) => readWeights(b, s);
/** Byte equality (vitest's toEqual walks a 2 MB array element by element: seconds). */
const expectSameBytes = (a: Uint8Array, b: Uint8Array) => expect(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(0);
const sri = (b: Uint8Array, alg = 'sha256') => `${alg}-${createHash(alg).update(b).digest('base64')}`;

function setup(served = {}) {
  const net = fakeFetch({ [URL_]: { body: MODEL, chunk: 65536 }, ...served });
  const caches = fakeCaches();
  const events: WebProgress[] = [];
  const options: FetchModelOptions = { fetch: net.fetch, caches, onProgress: (e) => events.push(e) };
  return { net, caches, events, options };
}

describe('fetchModel', () => {
  it('streams the download with progress, then a second visit reads Cache Storage without a request', async () => {
    const { net, caches, events, options } = setup();
    const first = await fetchModel(URL_, options, parse);
    expect(first.fromCache).toBe(false);
    expect(first.value.config.num_classes).toBe(10);
    expectSameBytes(first.bytes, MODEL);
    expect(net.requests).toEqual([URL_]);
    // Several events (65,536-byte chunks), monotonic, ending at the whole file.
    const dl = events.filter((e) => e.stage === 'download');
    expect(dl.length).toBeGreaterThan(3);
    for (let i = 1; i < dl.length; i++) expect(dl[i].done).toBeGreaterThanOrEqual(dl[i - 1].done);
    expect(dl.at(-1)).toMatchObject({ done: MODEL.byteLength, total: MODEL.byteLength, fromCache: false });
    expect(caches.entries.get(DEFAULT_CACHE)?.has(URL_)).toBe(true);

    events.length = 0;
    const second = await fetchModel(URL_, options, parse);
    expect(second.fromCache).toBe(true);
    expectSameBytes(second.bytes, MODEL);
    expect(net.requests).toEqual([URL_]); // no second request
    expect(events.at(-1)).toMatchObject({ stage: 'download', done: MODEL.byteLength, fromCache: true });

    expect(await clearModelCache(URL_, DEFAULT_CACHE, caches)).toBe(true);
    await fetchModel(URL_, options, parse);
    expect(net.requests).toEqual([URL_, URL_]);
  });

  it('a 404 is a NETWORK error naming the URL and the status', async () => {
    const { options } = setup();
    await expectWebvitError(() => fetchModel('https://example.test/missing.safetensors', options, parse), 'NETWORK', ['https://example.test/missing.safetensors', '404', 'deployed']);
  });

  it('a file: URL is refused before any fetch, saying how to serve the file instead', async () => {
    const { options } = setup();
    const spy = vi.fn(options.fetch!);
    await expectWebvitError(() => fetchModel('file:///home/me/model.safetensors', { ...options, fetch: spy }, parse), 'BAD_ARGUMENT', ['file:///home/me/model.safetensors', 'file: URLs', 'http(s)', 'bytes']);
    expect(spy).not.toHaveBeenCalled();
  });

  it('a truncated download (Content-Length not reached) is refused and not cached; an honest retry works', async () => {
    const { net, caches, options } = setup({ [URL_]: { body: MODEL.subarray(0, 100_000), contentLength: MODEL.byteLength } });
    await expectWebvitError(() => fetchModel(URL_, options, parse), 'NETWORK', ['truncated', '100000 bytes received', String(MODEL.byteLength)]);
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
    net.files.set(URL_, { body: MODEL });
    expect((await fetchModel(URL_, options, parse)).fromCache).toBe(false);
  });

  it('a body longer than its Content-Length is refused', async () => {
    const { options } = setup({ [URL_]: { body: MODEL, contentLength: 1000 } });
    await expectWebvitError(() => fetchModel(URL_, options, parse), 'NETWORK', ['longer than announced', '1000']);
  });

  it('a connection that breaks mid-body is a NETWORK error saying how far it got', async () => {
    const { caches, options } = setup({ [URL_]: { body: MODEL, breakAfter: 50_000, chunk: 10_000 } });
    await expectWebvitError(() => fetchModel(URL_, options, parse), 'NETWORK', ['broke off after 50000 of', 'connection reset']);
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
  });

  it('a compressed body (Content-Encoding) is not held to its Content-Length', async () => {
    const { options } = setup({ [URL_]: { body: MODEL, contentLength: 1234, contentEncoding: 'gzip' } });
    expect((await fetchModel(URL_, options, parse)).bytes.byteLength).toBe(MODEL.byteLength);
  });

  it('an HTML page served with 200 (a single-page-app fallback) is not a weight file, and is not cached', async () => {
    const page = new TextEncoder().encode('<!DOCTYPE html>\n<html><body>app</body></html>');
    const { caches, options } = setup({ [URL_]: { body: page } });
    await expectWebvitError(() => fetchModel(URL_, options, parse), 'BAD_WEIGHTS', [URL_, 'HTML page', '.safetensors']);
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
  });

  it('random bytes are BAD_WEIGHTS with the convert hint (seeded)', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const junk = Uint8Array.from({ length: 5000 }, () => Math.floor(rand() * 256));
    const { options } = setup({ [URL_]: { body: junk } });
    const msg = await expectWebvitError(() => fetchModel(URL_, options, parse), ['BAD_WEIGHTS', 'BAD_CONFIG'], [URL_]);
    expect(msg, `seed ${seed}`).toMatch(/webvit convert/);
    await expectWebvitError(() => fetchModel(new Uint8Array(0), {}, parse), 'BAD_WEIGHTS', ['empty']);
  });

  it('integrity: a matching sha256/sha384 passes, a mismatch is refused and not cached, a malformed one is a usage error', async () => {
    const { caches, options } = setup();
    expect((await fetchModel(URL_, { ...options, integrity: sri(MODEL), cache: false }, parse)).fromCache).toBe(false);
    expect((await fetchModel(MODEL.buffer.slice(0) as ArrayBuffer, { integrity: `sha512-AAAA ${sri(MODEL, 'sha384')}` }, parse)).bytes.byteLength).toBe(MODEL.byteLength);
    const other = sri(new Uint8Array([1, 2, 3]));
    await expectWebvitError(() => fetchModel(URL_, { ...options, integrity: other }, parse), 'BAD_WEIGHTS', ['integrity', other, sri(MODEL)]);
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
    await expectWebvitError(() => fetchModel(URL_, { ...options, integrity: 'md5-abc' }, parse), 'BAD_ARGUMENT', ['sha256-<base64>']);
  });

  it('a cached copy that fails the integrity now asked for is downloaded again (a new model version)', async () => {
    const { net, options } = setup();
    await fetchModel(URL_, options, parse);
    const changed = MODEL.slice();
    changed[changed.length - 1] ^= 1; // last weight byte: still a valid file
    net.files.set(URL_, { body: changed });
    const r = await fetchModel(URL_, { ...options, integrity: sri(changed) }, parse);
    expect(r.fromCache).toBe(false);
    expectSameBytes(r.bytes, changed);
    expect(net.requests.length).toBe(2);
    // And the new copy is what the cache now holds.
    expect((await fetchModel(URL_, { ...options, integrity: sri(changed) }, parse)).fromCache).toBe(true);
  });

  it('takes a Response (streamed, with progress) and bytes; refuses other things', async () => {
    const { net, events } = setup();
    const r = await fetchModel(await net.fetch(URL_), { onProgress: (e) => events.push(e) }, parse);
    expectSameBytes(r.bytes, MODEL);
    expect(events.at(-1)).toMatchObject({ done: MODEL.byteLength, total: MODEL.byteLength });
    await expectWebvitError(() => fetchModel(new Response('gone', { status: 410 }), {}, parse), 'NETWORK', ['410']);
    await expectWebvitError(() => fetchModel(42 as unknown as string, {}, parse), 'BAD_ARGUMENT', ['model must be', 'number']);
    await expectWebvitError(() => fetchModel('relative/model.safetensors', { fetch: net.fetch }, parse), 'BAD_ARGUMENT', ['not a valid URL', 'relative']);
  });

  it('without Cache Storage (or cache: false) every visit downloads', async () => {
    const { net } = setup();
    await fetchModel(URL_, { fetch: net.fetch }, parse);
    await fetchModel(URL_, { fetch: net.fetch, caches: fakeCaches(), cache: false }, parse);
    expect(net.requests.length).toBe(2);
  });

  it('an offline fetch (it throws) is a NETWORK error with the likely causes', async () => {
    const failing = (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof fetch;
    await expectWebvitError(() => fetchModel(URL_, { fetch: failing }, parse), 'NETWORK', ['Failed to fetch', 'CORS']);
  });
});

// A download that stalls, and one the caller stops, against a real HTTP server on 127.0.0.1
// (Node's fetch): each settles within its bound with one clear error, closes the connection,
// caches nothing and leaves no timer behind.
describe('fetchModel: stalls and aborts (a server on 127.0.0.1)', () => {
  /** Bytes /stall sends before it stops sending (seeded per run). */
  const seed = freshSeed();
  const SENT = 1000 + Math.floor(rng(seed)() * 50_000);
  let server: Awaited<ReturnType<typeof startStallServer>>;
  let base: string;
  const seen = () => server.seen;

  beforeAll(async () => {
    server = await startStallServer(MODEL, SENT);
    base = server.url;
  });

  afterAll(() => server.close());

  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  /** Waits (at most 3 s) until the server saw the request's connection closed before its end. */
  const expectClosed = async (path: string) => {
    await vi.waitFor(() => expect(server.closed(path), `${path}: connection closed by the client`).toBe(true), { timeout: 3000, interval: 20 });
  };

  it(`no bytes for idleTimeoutMs is a NETWORK error naming the URL and the bytes received (seed ${seed}: ${SENT} bytes sent)`, async () => {
    const caches = fakeCaches();
    const before = timers();
    const t0 = performance.now();
    const msg = await expectWebvitError(() => fetchModel(`${base}/stall`, { caches, idleTimeoutMs: 300 }, parse), 'NETWORK', [`${base}/stall`, 'stalled', `${SENT} of ${MODEL.byteLength} bytes`, '300 ms', 'idleTimeoutMs']);
    const ms = performance.now() - t0;
    expect(ms, msg).toBeGreaterThanOrEqual(290);
    expect(ms, msg).toBeLessThan(5000);
    await expectClosed('/stall');
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('a server that never answers times out the same way (0 bytes)', async () => {
    await expectWebvitError(() => fetchModel(`${base}/silent`, { cache: false, idleTimeoutMs: 200 }, parse), 'NETWORK', [`${base}/silent`, 'stalled', 'after 0 bytes']);
    await expectClosed('/silent');
  });

  it('the signal stops a download in progress: ABORTED, connection closed, nothing cached, no timer left', async () => {
    const caches = fakeCaches();
    const before = timers();
    const ac = new AbortController();
    // Aborted once bytes have arrived; the 30 s default idle timeout must not be what ends it.
    const onProgress = (e: WebProgress) => e.done > 0 && ac.abort();
    const t0 = performance.now();
    const msg = await expectWebvitError(() => fetchModel(`${base}/stall`, { caches, signal: ac.signal, onProgress }, parse), 'ABORTED', [`${base}/stall`, 'aborted', 'bytes received']);
    expect(performance.now() - t0, msg).toBeLessThan(5000);
    await expectClosed('/stall');
    expect(caches.entries.get(DEFAULT_CACHE)?.size ?? 0).toBe(0);
    expect(timers()).toBeLessThanOrEqual(before);
    // Aborted before it starts: no request at all.
    const n = seen().length;
    await expectWebvitError(() => fetchModel(`${base}/model`, { caches, signal: ac.signal }, parse), 'ABORTED', ['before the download']);
    expect(seen().length).toBe(n);
  });

  it('a download that completes under a signal and a timeout is cached and leaves no timer', async () => {
    const caches = fakeCaches();
    const before = timers();
    const r = await fetchModel(`${base}/model`, { caches, signal: new AbortController().signal, idleTimeoutMs: 5000 }, parse);
    expectSameBytes(r.bytes, MODEL);
    expect(caches.entries.get(DEFAULT_CACHE)?.has(`${base}/model`)).toBe(true);
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('a fetch that ignores the signal, and a Response whose body stalls, still time out', async () => {
    const stalled = () => new Response(new ReadableStream({ pull: () => new Promise<void>(() => undefined) }), { headers: { 'content-length': '100' } });
    const deaf = (async () => stalled()) as unknown as typeof fetch;
    await expectWebvitError(() => fetchModel(URL_, { fetch: deaf, cache: false, idleTimeoutMs: 100 }, parse), 'NETWORK', [URL_, 'stalled', '0 of 100 bytes']);
    await expectWebvitError(() => fetchModel(stalled(), { idleTimeoutMs: 100 }, parse), 'NETWORK', ['stalled', '0 of 100 bytes']);
    const never = (() => new Promise<Response>(() => undefined)) as unknown as typeof fetch;
    await expectWebvitError(() => fetchModel(URL_, { fetch: never, cache: false, idleTimeoutMs: 100 }, parse), 'NETWORK', [URL_, 'after 0 bytes']);
  });
});
