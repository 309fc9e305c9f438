import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPrerequisites, launchChromium, startCountingServer, watchPage } from './web_page.js';

// The demo page where there is no WebGPU: Chromium launched without --enable-unsafe-webgpu (on
// Linux it then has navigator.gpu but no adapter), and a page whose navigator has no `gpu` at
// all (older browsers). Both must show the "no WebGPU" message, and neither downloads the weights.

let server: Awaited<ReturnType<typeof startCountingServer>>;
let browser: Browser;
const log: string[] = [];

beforeAll(async () => {
  checkPrerequisites();
  server = await startCountingServer();
  browser = await launchChromium({ webgpu: false });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function expectMessage(init?: () => void): Promise<string> {
  const context = await browser.newContext();
  const page = await context.newPage();
  watchPage(page, log);
  try {
    if (init) await page.addInitScript(init);
    await page.goto(`${server.url}/`);
    const alert = page.getByRole('alert');
    await alert.waitFor({ state: 'visible', timeout: 30_000 });
    const text = (await alert.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain('This browser has no WebGPU');
    expect(text).toMatch(/Chrome|Edge|Safari/);
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('no-webgpu');
    // Nothing that cannot work is offered.
    expect(await page.locator('#drop').isVisible()).toBe(false);
    return text;
  } finally {
    await context.close();
  }
}

describe('the demo page without WebGPU', () => {
  it('Chromium without --enable-unsafe-webgpu (navigator.gpu, no adapter) shows the message', async () => {
    const text = await expectMessage();
    console.log(`no adapter: ${text}`);
  });

  it('a browser with no navigator.gpu shows the message', async () => {
    const text = await expectMessage(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    expect(text).toContain('navigator.gpu is missing');
  });

  it('downloaded no weights and hit no missing files', () => {
    expect(server.weightDownloads()).toBe(0);
    expect(server.problems).toEqual([]);
    expect(log.filter((l) => l.startsWith('[uncaught]'))).toEqual([]);
  });
});
