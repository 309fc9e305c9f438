import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPrerequisites,
  exampleNames,
  launchChromium,
  nextResult,
  nodeTop5,
  openDemo,
  pickFile,
  sameTop,
  startCountingServer,
  waitFirstResult,
  type TopEntry,
} from './web_page.js';

// The demo page in worker mode (createImageClassifier({ worker: true })): opened with ?worker=1,
// and switched on with the page's checkbox. Every example must get Node's top-5, the model must
// run in a dedicated worker (dist/webvit.worker.js), and the page must say so.

let server: Awaited<ReturnType<typeof startCountingServer>>;
let browser: Browser;
let nodeTop: Map<string, TopEntry[]>;
const log: string[] = [];

beforeAll(async () => {
  checkPrerequisites();
  server = await startCountingServer();
  [nodeTop, browser] = await Promise.all([nodeTop5(), launchChromium({ webgpu: true })]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const infoRow = async (page: Page, term: string) => {
  const info = await page.$$eval('#info dt, #info dd', (els) => els.map((e) => e.textContent ?? ''));
  return info[info.indexOf(term) + 1];
};

async function withDemo(url: string, fn: (page: Page, context: BrowserContext) => Promise<void>): Promise<void> {
  const { context, page } = await openDemo(browser, url, log);
  try {
    await fn(page, context);
  } finally {
    await context.close();
  }
}

describe('the demo page in worker mode (Chromium, WebGPU on SwiftShader)', () => {
  it("?worker=1: the model runs in a Web Worker and every example gets Node's top-5", async () => {
    await withDemo(`${server.url}/?worker=1`, async (page) => {
      await waitFirstResult(page, log);
      const coldStart = await page.evaluate(() => (window as unknown as { webvitDemo: { firstResultMs: number } }).webvitDemo.firstResultMs);
      console.log(`cold start in worker mode (navigation → first result): ${coldStart.toFixed(0)} ms`);
      expect(page.workers().map((w) => w.url()).some((u) => u.endsWith('/dist/webvit.worker.js')), `workers: ${page.workers().map((w) => w.url())}`).toBe(true);
      expect(await page.isChecked('#worker')).toBe(true);
      expect(await infoRow(page, 'Runs in')).toBe('a Web Worker');
      // Stage timing (on by default) comes from the worker's profile().
      const first = await page.evaluate(() => (window as unknown as { webvitDemo: { results: { stages: Record<string, number>; ops: number }[] } }).webvitDemo.results[0]);
      expect(Object.keys(first.stages)).toEqual(['decode', 'upload', 'preprocess', 'forward', 'readback']);
      expect(first.ops).toBeGreaterThan(4);
      await page.uncheck('#timed'); // plain classify() for the warm times
      const times: number[] = [];
      for (const name of exampleNames()) {
        const r = await pickFile(page, log, name);
        expect(r.worker, `${name}: classified off the worker`).toBe(true);
        const diff = sameTop(r.top, nodeTop.get(name)!);
        expect(diff, `${name} in the worker: ${JSON.stringify(r.top)} vs Node ${JSON.stringify(nodeTop.get(name))}`).toBeUndefined();
        times.push(r.totalMs);
      }
      const sorted = [...times].sort((a, b) => a - b);
      console.log(`warm classify in the worker (file → top-5 on screen): median ${sorted[sorted.length >> 1].toFixed(1)} ms, min ${sorted[0].toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)}`);
    });
  });

  it('the checkbox switches a running page into the worker and back', async () => {
    await withDemo(`${server.url}/`, async (page) => {
      await waitFirstResult(page, log);
      expect(page.workers()).toHaveLength(0);
      await page.check('#worker');
      await page.waitForFunction(() => document.body.dataset.state === 'ready' && !(document.querySelector('#worker') as HTMLInputElement).disabled, undefined, { timeout: 60_000 });
      expect(await infoRow(page, 'Runs in')).toBe('a Web Worker');
      expect(page.workers().length).toBe(1);
      const r = await pickFile(page, log, 'trouser');
      expect(r.worker).toBe(true);
      expect(sameTop(r.top, nodeTop.get('trouser')!)).toBeUndefined();
      await page.uncheck('#worker');
      await page.waitForFunction(() => document.body.dataset.state === 'ready' && !(document.querySelector('#worker') as HTMLInputElement).disabled, undefined, { timeout: 60_000 });
      // The worker's classifier was disposed and its worker ended.
      await expect.poll(() => page.workers().length, { timeout: 10_000 }).toBe(0);
      const back = await nextResult(page, log, () => page.click('#examples button[data-example="bag"]'));
      expect(back.worker).toBe(false);
      expect(sameTop(back.top, nodeTop.get('bag')!)).toBeUndefined();
    });
  });

  it('made no requests the server refused', () => {
    expect(server.problems).toEqual([]);
    expect(log.filter((l) => l.startsWith('[uncaught]') || l.startsWith('[crash]'))).toEqual([]);
  });
});
