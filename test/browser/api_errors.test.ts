import { launchChromium, openPage } from '../helpers/chromium.js';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';

// The web API's errors in headless Chromium (WebGPU on SwiftShader), on the page and in the
// worker: the same bad input (an invalid URL, a cross-origin image, canvas or bitmap, a canvas
// without a context, closed bitmaps and frames, a transferred buffer, …) must give the same
// { name, code, message } either way, always a WebvitError, and odd but readable inputs the same
// result. Downloads that stall end with NETWORK after idleTimeoutMs, and an aborted one with
// ABORTED, the connection closed and nothing cached, in both modes.
// test/browser/api_errors_page.html holds the in-page code.
const REPO = resolve(import.meta.dirname, '..', '..');
const MODEL = readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors'));
const PNG = readFileSync(join(REPO, 'examples', 'sneaker.png'));
/** Bytes the stalling download sends before it stops. */
const SENT = 4096;

let pageServer: { url: string; close: () => Promise<void> } | undefined;
/** Another origin: x.png without CORS headers, /stall with them. */
let cross: Server | undefined;
let crossUrl: string;
const stalls: { closed: boolean }[] = [];
let browser: Browser | undefined;
let page: Page;
const log: string[] = [];

type Outcome = { name?: string; code?: string; message?: string; ok?: number | null };

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist', 'webvit.worker.js'))) throw new Error('dist/webvit.worker.js is missing: run `npm run build` first');
  pageServer = await startStaticServer({
    page: join(import.meta.dirname, 'api_errors_page.html'),
    mounts: [
      ['/dist/', join(REPO, 'dist')],
      ['/examples/', join(REPO, 'examples')],
      ['/models/', join(REPO, 'models')],
    ],
  });
  cross = createServer((req, res) => {
    if (req.url === '/x.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    if (req.url !== '/stall') return res.writeHead(404).end();
    const s = { closed: false };
    stalls.push(s);
    res.on('close', () => (s.closed = !res.writableFinished));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(MODEL.byteLength), 'access-control-allow-origin': '*' });
    res.write(MODEL.subarray(0, SENT)); // then nothing
  });
  await new Promise<void>((r) => cross!.listen(0, '127.0.0.1', r));
  crossUrl = `http://127.0.0.1:${(cross.address() as AddressInfo).port}`;
  browser = await launchChromium();
  page = await openPage(browser, `${pageServer.url}/`, log, { ready: 'apiReady', init: `window.CROSS = ${JSON.stringify(crossUrl)}` });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  cross?.closeAllConnections();
  await new Promise((r) => cross?.close(r));
});

const run = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

describe('web API errors in Chromium: the page and the worker agree', () => {
  it('every bad input gives the same WebvitError (name, code, message) on the page and in the worker', async () => {
    const onPage = await run<Record<string, Outcome>>('apiErrors', false);
    const inWorker = await run<Record<string, Outcome>>('apiErrors', true);
    const lines = Object.entries(onPage).map(([what, o]) => `${what}: ${o.code ?? `ok ${o.ok}`} ${o.message ?? ''}`);
    console.log(`api errors (page):\n  ${lines.join('\n  ')}`);
    for (const [what, want] of Object.entries(onPage)) {
      expect(inWorker[what], `${what}\npage:   ${JSON.stringify(want)}\nworker: ${JSON.stringify(inWorker[what])}`).toEqual(want);
      if ('ok' in want) continue;
      expect(want.name, `${what}: ${want.message}`).toBe('WebvitError');
    }
    // Readable though odd: a canvas that never had a context is blank, as createImageBitmap reads it.
    for (const what of ['a canvas without a context (blank)', 'a canvas whose control went to an OffscreenCanvas', 'still works after']) expect(onPage[what], what).toHaveProperty('ok');
    expect(onPage['still works after'].ok).toBe(7); // Sneaker
    // The message says what is wrong, not a browser's bare TypeError / DataCloneError.
    const has = (what: string, code: string, ...parts: string[]) => {
      expect(onPage[what].code, what).toBe(code);
      for (const p of parts) expect(onPage[what].message, what).toContain(p);
    };
    for (const what of ['a cross-origin <img>', 'a canvas a cross-origin image was drawn on', 'an ImageBitmap of a cross-origin image', 'profile() of a cross-origin <img>']) has(what, 'BAD_INPUT', 'cross-origin', 'CORS');
    has('an invalid URL', 'BAD_INPUT', 'not a valid URL', 'http://[bad');
    has('an OffscreenCanvas without a context', 'BAD_INPUT', 'OffscreenCanvas', 'context');
    expect(onPage['an OffscreenCanvas without a context'].message).not.toContain('cross-origin');
    has('a 0×8 canvas', 'BAD_INPUT', '0×8');
    has('a closed ImageBitmap', 'BAD_INPUT', 'closed');
    has('a closed VideoFrame', 'BAD_INPUT', 'closed');
    has('ImageData whose buffer was transferred', 'BAD_INPUT', '0 bytes', 'transferred');
    has('an array with a closed ImageBitmap second', 'BAD_INPUT', 'image 1', 'closed');
    has('a URL that is not there', 'NETWORK', '404');
    has('create: an invalid model URL', 'BAD_ARGUMENT', 'not a valid URL');
    has('create: a signal that is not an AbortSignal', 'BAD_ARGUMENT', 'AbortSignal');
    has('create: idleTimeoutMs -5', 'BAD_ARGUMENT', 'idleTimeoutMs');
    expect(log.filter((l) => l.startsWith('[uncaught]'))).toEqual([]);
  }, 240_000);

  for (const worker of [false, true]) {
    const mode = worker ? 'in the worker' : 'on the page';
    it(`${mode}: a stalled download fails with NETWORK after idleTimeoutMs; an aborted one with ABORTED; neither is cached`, async () => {
      let n = stalls.length;
      const stalled = await run<Outcome & { ms: number; cached: boolean }>('apiStall', worker, 500, false);
      expect(stalled, JSON.stringify(stalled)).toMatchObject({ name: 'WebvitError', code: 'NETWORK', cached: false });
      expect(stalled.message).toContain(`${crossUrl}/stall`);
      expect(stalled.message).toContain(`${SENT} of ${MODEL.byteLength} bytes`);
      expect(stalled.ms).toBeGreaterThanOrEqual(450);
      expect(stalled.ms).toBeLessThan(20_000);
      expect(stalls.length).toBe(n + 1);
      await vi.waitFor(() => expect(stalls.at(-1)!.closed, 'connection closed').toBe(true), { timeout: 5000, interval: 50 });

      n = stalls.length;
      // The default 30 s timeout is not what ends this one: the signal is, at once.
      const aborted = await run<Outcome & { ms: number; cached: boolean }>('apiStall', worker, undefined, true);
      expect(aborted, JSON.stringify(aborted)).toMatchObject({ name: 'WebvitError', code: 'ABORTED', cached: false });
      expect(aborted.message).toContain(`${crossUrl}/stall`);
      expect(aborted.ms).toBeLessThan(20_000);
      expect(stalls.length).toBe(n + 1);
      await vi.waitFor(() => expect(stalls.at(-1)!.closed, 'connection closed').toBe(true), { timeout: 5000, interval: 50 });
    }, 120_000);
  }
});
