import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchChromium, MODEL_PATH, watchPage } from './web_page.js';

// createImageClassifier before any work, in headless Chromium without WebGPU (launched without
// --enable-unsafe-webgpu: on Linux it has navigator.gpu but no adapter). It must fail before it
// downloads the weights, on the page and in the worker (the requests are counted at the server),
// and in worker mode a worker URL that is not webvit's worker (another script, a 404, an HTML
// page) must fail with WORKER naming that URL, not wait forever.
const REPO = resolve(import.meta.dirname, '..', '..');

let server: { url: string; close: () => Promise<void> };
const requests: { path: string; status: number }[] = [];
let browser: Browser;
const log: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist', 'webvit.worker.js'))) throw new Error('dist/webvit.worker.js is missing: run `npm run build` first');
  server = await startStaticServer({
    page: join(import.meta.dirname, 'startup_page.html'),
    mounts: [
      ['/dist/', join(REPO, 'dist')],
      ['/models/', join(REPO, 'models')],
    ],
    onRequest: (_method: string | undefined, path: string, status: number) => requests.push({ path, status }),
  });
  browser = await launchChromium({ webgpu: false });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

type Outcome = { ok: true } | { name: string; code: string; message: string; ms: number };

/** createImageClassifier(options) in a fresh page (own Cache Storage): its error and how long it took. */
async function create(options: Record<string, unknown>, init?: () => void): Promise<Outcome> {
  const context: BrowserContext = await browser.newContext();
  const page: Page = await context.newPage();
  watchPage(page, log);
  try {
    if (init) await page.addInitScript(init);
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => (window as unknown as { startupReady?: boolean }).startupReady === true, undefined, { timeout: 30_000 });
    return await page.evaluate((o) => (window as unknown as { tryCreate: (o: unknown) => Promise<Outcome> }).tryCreate(o), options);
  } finally {
    await context.close();
  }
}

const weightRequests = () => requests.filter((r) => r.path === MODEL_PATH).length;

describe('createImageClassifier in Chromium without WebGPU', () => {
  for (const worker of [false, true]) {
    it(`${worker ? 'worker' : 'page'} mode: NO_ADAPTER, and the weights are never requested`, async () => {
      const before = weightRequests();
      const r = await create({ model: MODEL_PATH, worker });
      expect(r, JSON.stringify(r)).toMatchObject({ name: 'WebvitError', code: 'NO_ADAPTER' });
      expect(weightRequests(), 'GETs of the weight file').toBe(before);
      if (worker) expect(requests.some((q) => q.path === '/dist/webvit.worker.js' && q.status === 200)).toBe(true);
    }, 60_000);
  }

  it('a page without navigator.gpu: NO_WEBGPU, and the weights are never requested', async () => {
    const before = weightRequests();
    const r = await create({ model: MODEL_PATH }, () => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    expect(r, JSON.stringify(r)).toMatchObject({ name: 'WebvitError', code: 'NO_WEBGPU' });
    expect(weightRequests()).toBe(before);
  }, 60_000);
});

describe('worker mode with a worker URL that is not webvit.worker.js', () => {
  const cases: [string, string, number][] = [
    // Another script (a likely mistake: the page's bundle): it loads and never answers.
    ['another script', '/dist/webvit.browser.js', 20_000],
    ['a 404', '/dist/no-such-worker.js', 8_000],
    ['an HTML page', '/', 8_000],
  ];
  for (const [what, path, within] of cases) {
    it(`${what} (${path}): WORKER naming the URL, within ${within / 1000} s; no weights requested`, async () => {
      const before = weightRequests();
      const url = `${server.url}${path}`;
      const r = await create({ model: MODEL_PATH, worker: url });
      expect(r, JSON.stringify(r)).toMatchObject({ name: 'WebvitError', code: 'WORKER' });
      const x = r as Extract<Outcome, { code: string }>;
      expect(x.message).toContain(url);
      expect(x.message).toContain('webvit.worker.js');
      expect(x.ms).toBeLessThan(within);
      expect(weightRequests()).toBe(before);
      console.log(`${what}: ${x.message} (${x.ms.toFixed(0)} ms)`);
    }, 60_000);
  }
});
