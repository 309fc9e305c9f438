import { launchChromium, openPage } from '../helpers/chromium.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';

// What the third hostile run of the web API found (issue 17), in headless Chromium on
// SwiftShader: a worker that goes away, a Worker shared by two classifiers, a worker script that
// answers junk, an over-long model URL, images and options whose getters or Proxy traps throw, a
// buffer detached while create runs, option values of the wrong kind. Each ends in a WebvitError
// with its code, in bounded time, with nothing uncaught on the page.
const REPO = resolve(import.meta.dirname, '..', '..');

let server: { url: string; close: () => Promise<void> } | undefined;
let browser: Browser | undefined;
let page: Page;
let scratch: string;
/** Another origin whose /stall.png sends a PNG's first 50 bytes, then nothing. */
let stall: Server | undefined;
let stallUrl: string;
const log: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist', 'webvit.worker.js'))) throw new Error('dist/webvit.worker.js is missing: run `npm run build` first');
  scratch = mkdtempSync(join(tmpdir(), 'webvit-hostile-web-'));
  // A script that is not webvit's worker: it answers every message with junk.
  writeFileSync(join(scratch, 'junk.js'), "self.onmessage = () => { self.postMessage('junk'); self.postMessage(null); self.postMessage(42); };\n");
  // Scripts that pass the handshake (they answer hello with the wire version), then reply junk.
  const afterHello = (reply: string) =>
    `self.onmessage = (e) => { const m = e.data; if (m?.id === undefined) return; if (m.type === 'hello') return postMessage({ id: m.id, ok: true, value: 2 }); postMessage(${reply}); };\n`;
  writeFileSync(join(scratch, 'error-null.js'), afterHello('{ id: m.id, ok: false, error: null }'));
  writeFileSync(join(scratch, 'error-missing.js'), afterHello('{ id: m.id, ok: false }'));
  writeFileSync(join(scratch, 'error-code.js'), afterHello("{ id: m.id, ok: false, error: { code: 'NOPE', message: 42 } }"));
  writeFileSync(join(scratch, 'garbage.js'), afterHello("m.type === 'create' ? { id: m.id, ok: true, value: null } : { id: m.id, ok: true, value: 'junk', info: 7 }"));
  writeFileSync(join(scratch, 'no-info.js'), afterHello('{ id: m.id, ok: true, value: null }'));
  // Passes the handshake and create with a plausible info, then answers calls with values of the right
  // envelope but the wrong content: a score that is text, two rows for one image, features of another width.
  const info = "{ labels: ['a', 'b'], config: { num_classes: 2, hidden_size: 4 }, preprocess: {}, kernels: {} }";
  const wellShaped = (value: string) => afterHello(`m.type === 'create' ? { id: m.id, ok: true, value: null, info: ${info} } : { id: m.id, ok: true, value: ${value}, info: ${info} }`);
  writeFileSync(join(scratch, 'score-text.js'), wellShaped("[[{ label: 'a', score: 'high', index: 0 }]]"));
  writeFileSync(join(scratch, 'two-rows.js'), wellShaped("[[{ label: 'a', score: 0.5, index: 0 }], [{ label: 'b', score: 0.5, index: 1 }]]"));
  writeFileSync(join(scratch, 'index-out.js'), wellShaped("[[{ label: 'a', score: 0.5, index: 7 }]]"));
  writeFileSync(join(scratch, 'features-width.js'), wellShaped('[new Float32Array(3)]'));
  writeFileSync(join(scratch, 'index.html'), '<!doctype html><title>hostile</title>\n');
  server = await startStaticServer({
    page: join(scratch, 'index.html'),
    mounts: [
      ['/dist/', join(REPO, 'dist')],
      ['/models/', join(REPO, 'models')],
      ['/scratch/', scratch],
    ],
  });
  stall = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' });
    res.write(readFileSync(join(REPO, 'examples', 'bag.png')).subarray(0, 50)); // a PNG's start, then nothing
  });
  await new Promise<void>((r) => stall!.listen(0, '127.0.0.1', r));
  stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}/stall.png`;
  browser = await launchChromium();
  page = await openPage(browser, `${server.url}/`, log);
  // A string, not a function: vitest would rewrite a dynamic import in a function's source.
  await page.evaluate(`(async () => {
    window.webvit = await import('/dist/webvit.browser.js');
    window.MODEL = '/models/fashion-mnist/model.safetensors';
    // Every case's outcome: { ok, value } or the error's { name, code, message }.
    window.outcome = async (f) => {
      try {
        return { ok: true, value: await f() };
      } catch (e) {
        return { name: e?.name, code: e?.code, message: String(e?.message).slice(0, 300) };
      }
    };
    window.bitmap = () => createImageBitmap(new ImageData(28, 28));
  })()`);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  stall?.closeAllConnections();
  stall?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

type Outcome = { ok?: boolean; value?: unknown; name?: string; code?: string; message?: string };
const run = (code: string): Promise<Outcome> => page.evaluate(`outcome(async () => { ${code} })`) as Promise<Outcome>;
const uncaught = () => log.filter((l) => l.startsWith('[uncaught]'));

describe('worker mode: a worker that goes away or is not webvit\'s', () => {
  it('a Worker the app terminates: the next call fails with WORKER within the silence limit (it hung), and dispose() resolves', async () => {
    const t0 = Date.now();
    const r = await run(`
      const w = new Worker('/dist/webvit.worker.js', { type: 'module' });
      const c = await webvit.createImageClassifier({ model: MODEL, worker: w, cache: false });
      w.terminate();
      const failed = await outcome(async () => c.classify(await bitmap()));
      await c.dispose();
      return failed;`);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.value).toMatchObject({ name: 'WebvitError', code: 'WORKER' });
    expect((r.value as Outcome).message).toMatch(/has not answered for 30 s: it was terminated/);
    expect(seconds).toBeLessThan(120);
  }, 180_000);

  it('one Worker given to two classifiers: the second create is BAD_ARGUMENT (the first hung)', async () => {
    const r = await run(`
      const w = new Worker('/dist/webvit.worker.js', { type: 'module' });
      const a = await webvit.createImageClassifier({ model: MODEL, worker: w, cache: false });
      const second = await outcome(() => webvit.createImageClassifier({ model: MODEL, worker: w, cache: false }));
      const first = (await a.classify(await bitmap(), { topK: 1 }))[0].index;
      await a.dispose();
      return { second, first };`);
    const v = r.value as { second: Outcome; first: number };
    expect(v.second).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
    expect(v.second.message).toMatch(/was given to a classifier before/);
    expect(typeof v.first).toBe('number');
  }, 120_000);

  it('a script that answers junk: WORKER, and nothing uncaught on the page (receive threw on it)', async () => {
    const before = uncaught().length;
    const r = await run(`return webvit.createImageClassifier({ model: MODEL, worker: '/scratch/junk.js', cache: false });`);
    expect(r).toMatchObject({ name: 'WebvitError', code: 'WORKER' });
    expect(uncaught().slice(before)).toEqual([]);
  }, 60_000);

  it('scripts that pass the handshake, then reply malformed errors or garbage: WORKER, never a hang, a foreign code or an uncaught error', async () => {
    const before = uncaught().length;
    const r = await run(`
      const out = {};
      for (const s of ['error-null', 'error-missing', 'error-code', 'no-info']) out[s] = await outcome(() => webvit.createImageClassifier({ model: MODEL, worker: '/scratch/' + s + '.js', cache: false }));
      out.garbage = await outcome(async () => {
        const c = await webvit.createImageClassifier({ model: MODEL, worker: '/scratch/garbage.js', cache: false });
        return c.classify(await bitmap());
      });
      return out;`);
    for (const [script, o] of Object.entries(r.value as Record<string, Outcome>)) {
      expect(o, `${script}: ${JSON.stringify(o)}`).toMatchObject({ name: 'WebvitError', code: 'WORKER' });
      expect(o.message, script).toMatch(/reply of the wrong shape/);
    }
    expect(uncaught().slice(before)).toEqual([]);
  }, 120_000);

  it('an object with postMessage but no terminate is BAD_ARGUMENT at once (was GPU after 10 s)', async () => {
    const r = await run(`return webvit.createImageClassifier({ model: MODEL, worker: { postMessage() {} } });`);
    expect(r).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
  });

  it('worker: 1 or {} is BAD_ARGUMENT (they became the URLs /1 and /[object Object])', async () => {
    for (const w of ['1', '{}']) {
      const r = await run(`return webvit.createImageClassifier({ model: MODEL, worker: ${w} });`);
      expect(r, w).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
    }
  });
});

describe('values that throw, or are of the wrong kind', () => {
  it('an image whose getter or Proxy trap throws: BAD_INPUT on the page and in the worker (was the raw value)', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        out[worker] = [
          await outcome(() => c.classify({ get data() { throw new Error('g'); }, width: 1, height: 1 })),
          await outcome(() => c.classify(new Proxy({}, { get() { throw new Error('px'); } }))),
          await outcome(() => c.classify(new Proxy([b, b], { get(t, k) { if (k === '1') throw new Error('e'); return t[k]; } }))),
          await outcome(() => c.classify({ get data() { throw { toString() { throw new Error('ts'); } }; }, width: 1, height: 1 })),
          await outcome(() => c.classify(b, { get topK() { throw { toString() { throw 1; } }; } })),
          await outcome(() => c.embed({ get data() { throw new Error('g'); }, width: 1, height: 1 })),
        ];
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, Outcome[]>;
    for (const worker of ['false', 'true']) {
      const [getter, proxy, proxyArray, unshowable, topK, embed] = v[worker];
      for (const o of [getter, proxy, proxyArray, unshowable, embed]) expect(o, `worker ${worker}: ${JSON.stringify(o)}`).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
      expect(topK, `worker ${worker}`).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
      expect(topK.message).toMatch(/options\.topK could not be read/);
    }
  }, 180_000);

  it('options: a Proxy of a signal, a model Proxy whose trap throws, cache of the wrong kind, a 2 MB URL: BAD_ARGUMENT (were GPU)', async () => {
    const r = await run(`
      const ac = new AbortController();
      return [
        await outcome(() => webvit.createImageClassifier({ model: MODEL, signal: new Proxy(ac.signal, {}) })),
        await outcome(() => webvit.createImageClassifier({ model: new Proxy({}, { getPrototypeOf() { throw new Error('proto trap'); } }) })),
        await outcome(() => webvit.createImageClassifier({ model: MODEL, get cache() { throw { toString() { throw new Error('inner'); } }; } })),
        await outcome(() => webvit.createImageClassifier({ model: MODEL, cache: true })),
        await outcome(() => webvit.createImageClassifier({ model: MODEL, cache: {} })),
        await outcome(() => webvit.createImageClassifier({ model: '/nothere?' + 'x'.repeat(2_100_000) })),
      ];`);
    const [signal, model, cacheGetter, cacheTrue, cacheObject, longUrl] = r.value as Outcome[];
    for (const o of [signal, model, cacheGetter, cacheTrue, cacheObject, longUrl]) expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
    expect(signal.message).toBe('signal must be an AbortSignal');
    expect(cacheGetter.message).toMatch(/options\.cache could not be read \(a value that cannot be shown as text\)/);
    expect(cacheTrue.message).toMatch(/cache must be a cache name \(string\) or false/);
    expect(longUrl.message).toMatch(/longer than browsers take/);
  }, 120_000);

  it('a model buffer detached while create runs: the page, like the worker, took its copy at the call', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const buf = await (await fetch(MODEL)).arrayBuffer();
        const p = webvit.createImageClassifier({ model: buf, worker });
        structuredClone(buf, { transfer: [buf] });
        const c = await p;
        out[worker] = (await c.classify(await bitmap(), { topK: 1 })).length;
        await c.dispose();
      }
      return out;`);
    expect(r.value).toEqual({ false: 1, true: 1 });
  }, 120_000);

  it('caches whose open() throws, or gives no cache: a plain download (was GPU)', async () => {
    const r = await run(`
      const out = [];
      for (const caches of [{ open() { throw new Error('quota'); } }, { async open() { return {}; } }]) {
        const c = await webvit.createImageClassifier({ model: MODEL, caches });
        out.push(c.info.source.endsWith('model.safetensors'));
        await c.dispose();
      }
      return out;`);
    expect(r.value, JSON.stringify(r)).toEqual([true, true]);
  }, 120_000);

  it('an <img> whose download stalls: NETWORK after idleTimeoutMs, as an image by URL (was BAD_INPUT), in both modes', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false, idleTimeoutMs: 1000 });
        const img = new Image();
        img.crossOrigin = 'anonymous';
        img.src = ${JSON.stringify('STALL')} + '?' + worker;
        out[worker] = await outcome(() => c.classify(img));
        await c.dispose();
      }
      return out;`.replace('"STALL"', JSON.stringify(stallUrl)));
    const v = r.value as Record<string, Outcome>;
    for (const worker of ['false', 'true']) {
      expect(v[worker], JSON.stringify(v[worker])).toMatchObject({ name: 'WebvitError', code: 'NETWORK' });
      expect(v[worker].message).toMatch(/is not loaded \(stalled for 1000 ms\)/);
    }
  }, 120_000);

  it('a revoked Proxy as the image: BAD_INPUT (was a bare TypeError), both modes', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        out[worker] = [await outcome(() => c.classify(proxy)), await outcome(() => c.embed(proxy))];
        await c.dispose();
      }
      return out;`);
    for (const o of Object.values(r.value as Record<string, Outcome[]>).flat()) expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
  }, 120_000);

  it('stats() called while dispose() runs: zeros on the page as in the worker (the page gave live figures)', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const [, , after] = await Promise.all([c.stats(), c.dispose(), c.stats()]);
        out[worker] = after;
      }
      return out;`);
    const v = r.value as Record<string, { buffers: number; bytes: number }>;
    expect(v.false).toMatchObject({ buffers: 0, bytes: 0 });
    expect(v.true).toMatchObject({ buffers: 0, bytes: 0 });
  }, 120_000);

  it('a cache whose methods throw at once: a plain download (create failed)', async () => {
    const r = await run(`
      const caches = { async open() { return { match() { throw new Error('m'); }, put() { throw new Error('p'); }, delete() { throw 1; } }; } };
      const c = await webvit.createImageClassifier({ model: MODEL, caches });
      const ok = c.info.source.endsWith('model.safetensors');
      await c.dispose();
      return ok;`);
    expect(r.value, JSON.stringify(r)).toBe(true);
  }, 60_000);

  it('a topK that cannot be sent to the worker: the same BAD_INPUT in both modes (the worker gave the clone error)', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        out[worker] = await outcome(async () => c.classify(await bitmap(), { topK: { valueOf() { return 3; } } }));
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, Outcome>;
    expect(v.false).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
    expect(v.true).toEqual(v.false);
  }, 120_000);

  it("an app's TuneStore whose get throws is no store (the model loads); a Worker whose getter throws is BAD_ARGUMENT", async () => {
    const r = await run(`
      const c = await webvit.createImageClassifier({ model: MODEL, cache: false, tune: { get() { throw new Error('tg'); }, set() { throw new Error('ts'); } } });
      const ok = (await c.classify(await bitmap(), { topK: 1 })).length;
      await c.dispose();
      const worker = await outcome(() => webvit.createImageClassifier({ model: MODEL, worker: { get postMessage() { throw new Error('pm'); }, terminate() {} } }));
      return { ok, worker };`);
    const v = r.value as { ok: number; worker: Outcome };
    expect(v.ok).toBe(1);
    expect(v.worker).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
    expect(v.worker.message).toMatch(/worker could not be read \(pm\)/);
  }, 120_000);

  it('explain() and profile() of an array: BAD_INPUT saying they take one image (was "cannot classify Array"), both modes', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        out[worker] = [await outcome(() => c.explain([b])), await outcome(() => c.profile([b, b]))];
        await c.dispose();
      }
      return out;`);
    for (const o of Object.values(r.value as Record<string, Outcome[]>).flat()) {
      expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT', message: 'explain() and profile() take one image; call them once per image' });
    }
  }, 120_000);

  // Round nine: a hole in embed()'s list said "image 1: cannot classify undefined" (an embed call).
  it('embed() of a list with a hole or null: BAD_INPUT naming embed and the image, not "classify"; classify() keeps its own wording; both modes', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        out[worker] = [await outcome(() => c.embed([b, , b])), await outcome(() => c.embed([null])), await outcome(() => c.classify([b, undefined]))];
        await c.dispose();
      }
      return out;`);
    for (const [hole, nul, cls] of Object.values(r.value as Record<string, Outcome[]>)) {
      expect(hole, JSON.stringify(hole)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
      expect(hole.message).toMatch(/^embed: image 1: undefined is not an image; pass an HTMLImageElement/);
      expect(nul.message).toMatch(/^embed: the image: null is not an image/);
      expect(cls.message).toMatch(/^image 1: undefined is not an image/);
      for (const o of [hole, nul, cls]) expect(o.message).not.toContain('cannot classify');
    }
  }, 120_000);

});

// Round six (session 8): what the fifth hostile run still found.
describe('round six: destroyed textures, values named by kind, URL schemes, a worker that lies', () => {
  it('a GPUTexture destroyed before the call: BAD_INPUT saying so (was GPU), and the classifier still works', async () => {
    const r = await run(`
      const adapter = await navigator.gpu.requestAdapter();
      const device = await adapter.requestDevice();
      const c = await webvit.createImageClassifier({ model: MODEL, device, cache: false });
      const t = device.createTexture({ size: [28, 28], format: 'rgba8unorm', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
      const ok = (await c.classify(t, { topK: 1 })).length;
      t.destroy();
      const destroyed = await outcome(() => c.classify(t));
      const after = (await c.classify(await bitmap(), { topK: 1 })).length;
      await c.dispose();
      return { ok, destroyed, after };`);
    const v = r.value as { ok: number; destroyed: Outcome; after: number };
    expect(v.ok, JSON.stringify(r)).toBe(1);
    expect(v.destroyed, JSON.stringify(v.destroyed)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
    expect(v.destroyed.message).toMatch(/GPUTexture was destroyed before webvit read it/);
    expect(v.after).toBe(1);
  }, 120_000);

  it("topK '3' and 3n are named as a string and a BigInt (both read \"got 3\"), the same in both modes", async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        out[worker] = [await outcome(() => c.classify(b, { topK: '3' })), await outcome(() => c.classify(b, { topK: 3n }))];
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, Outcome[]>;
    for (const worker of ['false', 'true']) {
      expect(v[worker][0], JSON.stringify(v[worker][0])).toMatchObject({ code: 'BAD_INPUT' });
      expect(v[worker][0].message).toMatch(/got the string "3"$/);
      expect(v[worker][1].message).toMatch(/got the BigInt 3n$/);
    }
    expect(v.true).toEqual(v.false);
  }, 120_000);

  it('pixels in memory with a field of the wrong kind: the message names the field (was "cannot classify Object")', async () => {
    const r = await run(`
      const c = await webvit.createImageClassifier({ model: MODEL, cache: false });
      const out = [
        await outcome(() => c.classify({ data: new Float32Array(4), width: 1, height: 1 })),
        await outcome(() => c.classify({ data: new Uint8ClampedArray(4), width: '1', height: 1 })),
        await outcome(() => c.classify({ width: 1, height: 1 })),
      ];
      await c.dispose();
      return out;`);
    const [floats, textWidth, noData] = r.value as Outcome[];
    for (const o of [floats, textWidth, noData]) expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
    expect(floats.message).toMatch(/data must be a Uint8ClampedArray or Uint8Array of 8-bit RGBA, got Float32Array/);
    expect(textWidth.message).toMatch(/width must be a number of pixels, got the string "1"/);
    expect(noData.message).toMatch(/data must be .* got undefined/);
  }, 60_000);

  it('URLs whose scheme cannot be downloaded (javascript:, ftp:, mailto:): refused up front naming the scheme, model and image, both modes', async () => {
    const r = await run(`
      const out = { model: [] };
      for (const u of ['javascript:alert(1)', 'ftp://example.invalid/m.safetensors', 'mailto:a@b.invalid']) {
        out.model.push(await outcome(() => webvit.createImageClassifier({ model: u })));
      }
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        out[worker] = await outcome(() => c.classify('javascript:void(0)'));
        await c.dispose();
      }
      return out;`);
    const v = r.value as { model: Outcome[]; false: Outcome; true: Outcome };
    for (const o of v.model) expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
    expect(v.model.map((o) => /uses the (\w+:) scheme, which cannot be downloaded/.exec(o.message ?? '')?.[1])).toEqual(['javascript:', 'ftp:', 'mailto:']);
    for (const o of [v.false, v.true]) {
      expect(o, JSON.stringify(o)).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
      expect(o.message).toMatch(/the image: URL "javascript:void\(0\)" uses the javascript: scheme/);
    }
  }, 120_000);

  it('a model given as a Response is named by its URL in both modes (the worker said "the model bytes")', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: await fetch(MODEL), worker, cache: false });
        out[worker] = c.info.source;
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, string>;
    expect(v.false).toMatch(/\/models\/fashion-mnist\/model\.safetensors$/);
    expect(v.true).toBe(v.false);
  }, 120_000);

  it('a worker that passes the handshake, then sends well-shaped replies with wrong values: WORKER, never the values', async () => {
    const before = uncaught().length;
    const r = await run(`
      const out = {};
      for (const s of ['score-text', 'two-rows', 'index-out', 'features-width']) {
        out[s] = await outcome(async () => {
          const c = await webvit.createImageClassifier({ model: MODEL, worker: '/scratch/' + s + '.js', cache: false });
          return s === 'features-width' ? c.embed(await bitmap()) : c.classify(await bitmap());
        });
      }
      return out;`);
    for (const [script, o] of Object.entries(r.value as Record<string, Outcome>)) {
      expect(o, `${script}: ${JSON.stringify(o)}`).toMatchObject({ name: 'WebvitError', code: 'WORKER' });
      expect(o.message, script).toMatch(/reply of the wrong shape/);
    }
    expect(uncaught().slice(before)).toEqual([]);
  }, 120_000);

  it('a device function that never settles: the signal still stops create (ABORTED; it hung)', async () => {
    const t0 = Date.now();
    const r = await run(`
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 500);
      return webvit.createImageClassifier({ model: MODEL, cache: false, device: () => new Promise(() => {}), signal: ac.signal });`);
    expect(r, JSON.stringify(r)).toMatchObject({ name: 'WebvitError', code: 'ABORTED' });
    expect(r.message).toMatch(/while waiting for the GPU device/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('clf.info is a copy: editing it (num_classes, hidden_size) changes no result and spoils no later call, both modes', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        c.info.config.num_classes = 99;
        c.info.config.hidden_size = 1;
        const big = await outcome(() => c.classify(b, { topK: 50 }));
        const top = (await c.classify(b, { topK: 1 })).length;
        const width = (await c.embed(b)).length;
        out[worker] = { big, top, width, classes: c.info.config.num_classes, hidden: c.info.config.hidden_size };
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, { big: Outcome; top: number; width: number; classes: number; hidden: number }>;
    for (const worker of ['false', 'true']) {
      const o = v[worker];
      expect(o, JSON.stringify(r)).toBeDefined();
      expect(o.big, worker).toMatchObject({ name: 'WebvitError', code: 'BAD_INPUT' });
      expect(o.big.message).toMatch(/topK must be a whole number from 1 to the model's 10 classes/);
      expect(o.top).toBe(1);
      expect(o.width).toBe(o.hidden);
      expect(o.classes).toBe(10);
    }
  }, 120_000);

  // Round eight: explain(img, { layer }) ignored the option; embed(img, null) and a typo (topk,
  // maxbatch) were accepted. explain() now loads its own chunk: it still works in both modes.
  it('unknown options and a wrong-kind second argument: BAD_ARGUMENT naming them, both modes; explain() (its own chunk) still works', async () => {
    const r = await run(`
      const out = {};
      for (const worker of [false, true]) {
        const c = await webvit.createImageClassifier({ model: MODEL, worker, cache: false });
        const b = await bitmap();
        out[worker] = {
          refused: [
            await outcome(() => c.explain(b, { layer: 2 })),
            await outcome(() => c.embed(b, null)),
            await outcome(() => c.classify(b, { topk: 3 })),
            await outcome(() => webvit.createImageClassifier({ model: MODEL, worker, maxbatch: 2 })),
          ],
          grid: (await c.explain(b)).grid,
          width: (await c.embed(b, {})).length,
        };
        await c.dispose();
      }
      return out;`);
    const v = r.value as Record<string, { refused: Outcome[]; grid: number; width: number }>;
    for (const worker of ['false', 'true']) {
      const [layer, embedNull, typo, create] = v[worker].refused;
      for (const o of [layer, embedNull, typo, create]) expect(o, `worker ${worker}: ${JSON.stringify(o)}`).toMatchObject({ name: 'WebvitError', code: 'BAD_ARGUMENT' });
      expect(layer.message).toBe('explain: unknown option layer; it takes none');
      expect(embedNull.message).toBe('embed: options must be an object, got null; it takes none');
      expect(typo.message).toBe('classify: unknown option topk; it takes topK');
      expect(create.message).toMatch(/^createImageClassifier: unknown option maxbatch; it takes model, device/);
      expect(v[worker].grid).toBe(4);
      expect(v[worker].width).toBe(128);
    }
  }, 120_000);

  it('left nothing uncaught on the page', () => {
    expect(uncaught()).toEqual([]);
  });
});
