import { chromium, type Browser, type Page } from 'playwright-core';

/** The Chromium the browser tests drive (Debian's; WEBVIT_CHROMIUM names another). */
export const CHROMIUM = process.env.WEBVIT_CHROMIUM ?? '/usr/bin/chromium';

const COMMON_ARGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** WebGPU on SwiftShader (the only adapter headless Chromium has here: ../shared/webgpu-on-cpu.md), and a fake camera. */
const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** Headless Chromium, with WebGPU on SwiftShader unless `webgpu` is false. */
export function launchChromium({ webgpu = true }: { webgpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...COMMON_ARGS, ...(webgpu ? WEBGPU_ARGS : [])], timeout: 60_000 });
}

/**
 * A new page of `browser` at `url`, its console and uncaught errors appended to `log` (the tests
 * print its tail on failure), once the page's script sets `window[ready]` (its functions are
 * then defined). `init`: a script run before the page's own (addInitScript).
 */
export async function openPage(browser: Browser, url: string, log: string[], o: { ready?: string; init?: string } = {}): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[uncaught] ${e.stack ?? e}`));
  if (o.init) await page.addInitScript(o.init);
  await page.goto(url);
  if (o.ready) await page.waitForFunction((flag) => (window as unknown as Record<string, unknown>)[flag] === true, o.ready, { timeout: 30_000 });
  return page;
}
