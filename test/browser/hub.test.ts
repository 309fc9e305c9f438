import { launchChromium, openPage } from '../helpers/chromium.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { hubEnv } from '../../src/hub/node_cache.js';
import { hubModelFile } from '../../src/hub/node_model.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import type { Classification } from '../../src/web/types.js';
import { GATED_TOKEN, hubRepoFixtures } from '../helpers/hub_repos.js';
import { startHubStandIn, type HubStandIn } from '../helpers/hub_stand_in.js';
import { freshSeed, rng } from '../helpers/random.js';
import { openDemo, pickFile, startCountingServer, waitFirstResult } from './web_page.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

// Model ids in the page (docs/model-ids.md), in headless Chromium with WebGPU on SwiftShader, against
// the local Hub stand-in served from another origin (CORS as the Hub sends it): the model fetched and
// converted in the page and in the worker gives the top-5 of the file Node converts from the same
// repository; a second load reads Cache Storage and asks the Hub only which commit `main` is; a
// gated model needs its token, which never reaches the CDN; each error arrives as a WebvitError.
const REPO = resolve(import.meta.dirname, '..', '..');
const TINY = 'webvit-test/vit-tiny';
const SCORE_TOL = 1e-4;

let hub: HubStandIn;
let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let page: Page;
let tmp: string;
const log: string[] = [];
let reference: Classification[];
const seed = freshSeed();
const image = (() => {
  const r = rng(seed);
  const width = 45, height = 37; // off the model's 32: resized and cropped as its processor says
  return { width, height, data: Array.from({ length: width * height * 4 }, (_, i) => ((i & 3) === 3 ? 255 : Math.floor(r() * 256))) };
})();

type Outcome = { top?: Classification[]; info?: { source: string; fromCache: boolean; worker: boolean }; progress: { stage: string; detail?: string; fromCache: boolean }[]; error?: { name: string; code?: string; message: string } };
const run = (options: Record<string, unknown>): Promise<Outcome> => page.evaluate(([o, img]) => (window as unknown as { classifyById: (o: unknown, i: unknown) => Promise<Outcome> }).classifyById(o, img), [options, image] as const);

beforeAll(async () => {
  hub = await startHubStandIn(await hubRepoFixtures(), { stallMs: 20_000 });
  tmp = mkdtempSync(join(tmpdir(), 'webvit-hub-web-'));
  // Node's reference: the file Node's Hub loader converts from the same repository.
  const env = await hubEnv({ HF_HUB_CACHE: join(tmp, 'hf'), HF_ENDPOINT: hub.url, HF_HOME: join(tmp, 'home') });
  const file = await hubModelFile(TINY, { env, webvitCache: join(tmp, 'wv') });
  const device = await getNodeDevice();
  const clf = await createImageClassifier({ model: new Uint8Array(readFileSync(file.path)), device });
  reference = await clf.classify({ data: new Uint8ClampedArray(image.data), width: image.width, height: image.height }, { topK: 5 });
  await clf.dispose();
  device.destroy();
  server = await startStaticServer({ page: join(import.meta.dirname, 'hub_page.html'), mounts: [['/dist/', join(REPO, 'dist')]] });
  browser = await launchChromium();
  page = await openPage(browser, `${server.url}/`, log, { ready: 'hubReady' });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function expectReference(o: Outcome, what: string): void {
  expect(o.error, `${what}: ${JSON.stringify(o.error)} (seed ${seed})\n${log.slice(-20).join('\n')}`).toBeUndefined();
  expect(o.top!.map((c) => c.index), `${what} (seed ${seed})`).toEqual(reference.map((c) => c.index));
  o.top!.forEach((c, i) => expect(Math.abs(c.score - reference[i].score), `${what}: class ${c.index} (seed ${seed})`).toBeLessThanOrEqual(SCORE_TOL));
}

describe('model ids in Chromium', () => {
  for (const worker of [false, true]) {
    it(`${worker ? 'in the worker' : 'on the page'}: converted like Node's, then read from Cache Storage with one small request`, async () => {
      await page.evaluate(() => (window as unknown as { clearCaches: () => Promise<void> }).clearCaches());
      const k = hub.requests.length;
      const cold = await run({ model: TINY, hubUrl: hub.url, worker });
      expectReference(cold, 'cold');
      expect(cold.info).toMatchObject({ source: TINY, fromCache: false, worker });
      expect(cold.progress.some((p) => p.stage === 'download' && p.detail === 'model.safetensors')).toBe(true);
      expect(cold.progress.some((p) => p.stage === 'convert')).toBe(true);
      expect(hub.requests.slice(k).some((q) => q.server === 'cdn' && q.method === 'GET')).toBe(true);
      // Reload: a new page load, the same origin's Cache Storage.
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { hubReady?: boolean }).hubReady === true);
      const k2 = hub.requests.length;
      const warm = await run({ model: TINY, hubUrl: hub.url, worker });
      expectReference(warm, 'warm');
      expect(warm.info).toMatchObject({ fromCache: true });
      expect(warm.progress.some((p) => p.stage === 'convert')).toBe(false);
      // Only config.json (which commit is main now?): no weights, nothing from the CDN.
      expect(hub.requests.slice(k2).filter((q) => q.method !== 'OPTIONS').map((q) => `${q.server} ${q.method} ${q.path}`)).toEqual([`hub GET /${TINY}/resolve/main/config.json`]);
    }, 180_000);
  }

  it('a sharded repository and a timm one load by id', async () => {
    for (const id of ['webvit-test/vit-tiny-sharded', 'timm/vit_tiny_test.augreg_in1k']) {
      const o = await run({ model: id, hubUrl: hub.url, cache: false });
      expect(o.error, `${id}: ${JSON.stringify(o.error)}`).toBeUndefined();
      expect(o.top).toHaveLength(5);
    }
  }, 120_000);

  it('a gated model: UNAUTHORIZED without its token; with it, the token goes to the Hub only', async () => {
    const no = await run({ model: 'webvit-test/vit-gated', hubUrl: hub.url, cache: false });
    expect(no.error).toMatchObject({ name: 'WebvitError', code: 'UNAUTHORIZED' });
    expect(no.error!.message).toMatch(/vit-gated is gated or private: it needs an access token.*`token` option/);
    const k = hub.requests.length;
    const yes = await run({ model: 'webvit-test/vit-gated', hubUrl: hub.url, token: GATED_TOKEN, cache: false });
    expectReference(yes, 'gated with token');
    const seen = hub.requests.slice(k).filter((q) => q.method !== 'OPTIONS');
    expect(seen.filter((q) => q.server === 'hub').every((q) => q.headers.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
    expect(seen.filter((q) => q.server === 'cdn').length).toBeGreaterThan(0);
    expect(seen.filter((q) => q.server === 'cdn').every((q) => q.headers.authorization === undefined)).toBe(true);
  }, 120_000);

  it('errors are WebvitErrors with a code, naming the id and the way out', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ model: 'webvit-test/nope' }, 'NOT_FOUND', /no model webvit-test\/nope on/],
      [{ model: 'webvit-test/vit-bin-only' }, 'UNSUPPORTED', /only as pytorch_model\.bin/],
      [{ model: 'webvit-test/swin-tiny' }, 'UNSUPPORTED', /SwinForImageClassification.*webvit runs ViT/],
      [{ model: TINY, revision: 'nope' }, 'NOT_FOUND', /has no revision nope/],
      [{ model: `${TINY}@main`, revision: 'v1.0' }, 'BAD_ARGUMENT', /names revision main and options\.revision says v1\.0/],
      [{ model: '/dist/x.safetensors', revision: 'main' }, 'BAD_ARGUMENT', /revision, hubUrl, token and dtype are for a model given by Hub id/],
      [{ model: TINY, dtype: 'int3' }, 'BAD_ARGUMENT', /dtype must be 'f32', 'f16', 'int8' or 'q4'/],
    ];
    for (const [o, code, message] of cases) {
      for (const worker of [false, true]) {
        const r = await run({ hubUrl: hub.url, cache: false, worker, ...o });
        expect(r.error, `${JSON.stringify(o)} worker ${worker}`).toMatchObject({ name: 'WebvitError', code });
        expect(r.error!.message, `${JSON.stringify(o)} worker ${worker}`).toMatch(message);
      }
    }
    // The pickled file was looked for, never downloaded.
    expect(hub.requests.filter((q) => q.method === 'GET' && q.path.includes('pytorch_model.bin'))).toEqual([]);
  }, 180_000);

  it("README's web example runs as written (huggingface.co answered by the stand-in) and logs the top 3 of examples/sneaker.png", async () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Use in a web app'));
    const html = /```html\n([\s\S]*?)```/.exec(section)?.[1];
    expect(html, 'README: the html block of "Use in a web app"').toBeTruthy();
    const id = /model: '([^']+)'/.exec(html!)?.[1];
    expect(id, 'the example loads a model by id').toBe('google/vit-base-patch16-224');
    // Node's answer for the same file from the same repository.
    const env = await hubEnv({ HF_HUB_CACHE: join(tmp, 'hf'), HF_ENDPOINT: hub.url, HF_HOME: join(tmp, 'home') });
    const file = await hubModelFile(id!, { env, webvitCache: join(tmp, 'wv') });
    const { decodeImage } = await import('../../src/image/decode.js');
    const device = await getNodeDevice();
    const clf = await createImageClassifier({ model: new Uint8Array(readFileSync(file.path)), device });
    const d = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', 'sneaker.png'))), 'sneaker.png');
    const expected = await clf.classify({ data: d.rgba, width: d.width, height: d.height }, { topK: 3 });
    await clf.dispose();
    device.destroy();
    const dir = mkdtempSync(join(tmpdir(), 'webvit-readme-'));
    writeFileSync(join(dir, 'index.html'), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">\n${html}`);
    const s = await startStaticServer({ page: join(dir, 'index.html'), mounts: [['/dist/', join(REPO, 'dist')], ['/examples/', join(REPO, 'examples')]] });
    const p = await browser.newPage();
    const routed: string[] = [];
    try {
      // The page asks huggingface.co; the stand-in answers (its redirect to the CDN followed here).
      await p.route('https://huggingface.co/**', async (route) => {
        const url = route.request().url().replace('https://huggingface.co', hub.url);
        routed.push(url);
        await route.fulfill({ response: await route.fetch({ url }) });
      });
      const logged = new Promise<unknown>((resolveLog, reject) => {
        p.on('console', (m) => {
          if (m.args().length === 1) m.args()[0].jsonValue().then((v) => Array.isArray(v) && resolveLog(v), reject);
        });
        p.on('pageerror', reject);
      });
      await p.goto(`${s.url}/`);
      const top = (await Promise.race([logged, new Promise((_, r) => setTimeout(() => r(new Error('no result logged in 90 s')), 90_000))])) as Classification[];
      expect(top.map((c) => c.index)).toEqual(expected.map((c) => c.index));
      expect(top.map((c) => c.label)).toEqual(expected.map((c) => c.label));
      top.forEach((c, i) => expect(Math.abs(c.score - expected[i].score)).toBeLessThanOrEqual(SCORE_TOL));
      expect(routed.some((u) => u.endsWith('/google/vit-base-patch16-224/resolve/main/config.json'))).toBe(true);
    } finally {
      await p.close();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("the demo page's model-id field loads an id (from the stand-in: ?hub=) and classifies with it", async () => {
    const demo = await startCountingServer();
    const demoLog: string[] = [];
    const { context, page: p } = await openDemo(browser, `${demo.url}/?hub=${encodeURIComponent(hub.url)}`, demoLog);
    try {
      await waitFirstResult(p, demoLog);
      const options = await p.$$eval('#model-ids option', (els) => els.map((e) => (e as HTMLOptionElement).value));
      expect(options).toContain('google/vit-base-patch16-224');
      await p.fill('#model-id', TINY);
      await p.click('#model-id-load');
      await p.waitForFunction((id) => document.body.dataset.state === 'ready' && Array.from(document.querySelectorAll("#info dd")).some((d) => d.textContent === id), TINY, { timeout: 120_000 });
      const info = await p.$$eval('#info dt, #info dd', (els) => els.map((e) => e.textContent ?? ''));
      expect(info[info.indexOf('Weights') + 1]).toBe('downloaded from the Hub and converted here');
      expect(await p.evaluate(() => document.body.dataset.loadErrors ?? '0')).toBe('0');
      const r = await pickFile(p, demoLog, 'bag');
      expect(r.top.length).toBeGreaterThan(0);
      // The tiny model's labels (ImageNet's first ten), not Fashion-MNIST's.
      expect(['tench', 'goldfish', 'great white shark', 'tiger shark', 'hammerhead, shark', 'electric ray', 'stingray', 'cock', 'hen', 'café au lait']).toContain(r.top[0].label);
    } finally {
      await context.close();
      await demo.close();
    }
  }, 240_000);

  it('a stalled Hub is a NETWORK error after idleTimeoutMs', async () => {
    hub.setFaults([{ kind: 'stall', file: `${TINY}/model.safetensors`, afterBytes: 1000, times: 99 }]);
    try {
      const r = await run({ model: TINY, hubUrl: hub.url, cache: false, idleTimeoutMs: 500 });
      expect(r.error).toMatchObject({ name: 'WebvitError', code: 'NETWORK' });
      expect(r.error!.message).toMatch(/model\.safetensors of webvit-test\/vit-tiny.*stalled: no data for 500 ms/);
    } finally {
      hub.setFaults([]);
    }
  }, 120_000);
});
