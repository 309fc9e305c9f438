// Helpers for the demo page's tests (test/browser/web*.test.ts): the demo server with request
// counting, headless Chromium with and without WebGPU, Node's reference results, and page drivers.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startDemoServer } from '../../web/serve.mjs';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const EXAMPLES_DIR = join(REPO, 'examples');
export const MODEL_PATH = '/models/fashion-mnist/model.safetensors';
const BUNDLE = join(REPO, 'dist', 'webvit.browser.js');
export { CHROMIUM, launchChromium } from '../helpers/chromium.js';
import { CHROMIUM } from '../helpers/chromium.js';

export interface TopEntry {
  label: string;
  score: number;
  index: number;
}

export interface DemoResult {
  name: string;
  top: TopEntry[];
  totalMs: number;
  stages: Record<string, number>;
  worker: boolean;
}

/** The demo server, counting every request by path. */
export async function startCountingServer() {
  const requests: { method: string; path: string; status: number }[] = [];
  const problems: string[] = [];
  const server = await startDemoServer({
    onRequest: (method, path, status) => requests.push({ method: method ?? '?', path, status }),
    onProblem: (status, method, url, why) => {
      if (!url?.endsWith('favicon.ico')) problems.push(`${method} ${url}: ${status} ${why}`);
    },
  });
  return {
    url: server.url,
    close: server.close,
    requests,
    problems,
    /** GETs of the bundled weight file answered with its bytes. */
    weightDownloads: () => requests.filter((r) => r.method === 'GET' && r.path === MODEL_PATH && r.status === 200).length,
  };
}

/** Fails early, with what to do, when the bundle or Chromium is missing; warns if the bundle is stale. */
export function checkPrerequisites(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` before this test`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set WEBVIT_CHROMIUM to another binary)`);
  const built = statSync(BUNDLE).mtimeMs;
  const newer: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (statSync(p).mtimeMs > built) newer.push(p.slice(REPO.length + 1));
    }
  };
  walk(join(REPO, 'src'));
  if (newer.length) console.warn(`dist/webvit.browser.js is older than ${newer.slice(0, 5).join(', ')}${newer.length > 5 ? ', …' : ''}: run \`npm run build\` to test the current source`);
}

/** The example images' names (file name without .png), sorted. */
export function exampleNames(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.png'))
    .map((f) => f.slice(0, -4))
    .sort();
}

/** Node's top-5 for every example image, from the CLI (Dawn on lavapipe): name → entries. */
export async function nodeTop5(): Promise<Map<string, TopEntry[]>> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, ['dist/cli.js', 'classify', 'examples/', '--json', '--top', '5'], {
      cwd: REPO,
      env: { ...process.env, CI: '1' },
      timeout: 240_000,
    }));
  } catch (e) {
    const x = e as { message: string; stderr?: string; stdout?: string };
    throw new Error(`Node's reference run failed: ${x.message}\nstdout: ${x.stdout}\nstderr: ${x.stderr}`);
  }
  const out = new Map<string, TopEntry[]>();
  for (const line of stdout.trim().split('\n')) {
    const r = JSON.parse(line) as { file: string; top?: { label: string; index: number; p: number }[]; error?: string };
    if (!r.top) throw new Error(`webvit classify failed on ${r.file}: ${r.error}`);
    out.set(r.file.replace(/^examples\//, '').replace(/\.png$/, ''), r.top.map((t) => ({ label: t.label, index: t.index, score: t.p })));
  }
  return out;
}

/** Collects the page's console and errors for failure messages. */
export function watchPage(page: Page, log: string[]): void {
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[uncaught] ${e.stack ?? e}`));
  page.on('crash', () => log.push('[crash] the page crashed'));
}

export const state = (page: Page) => page.evaluate(() => document.body.dataset.state ?? '');

/** Waits until the demo's model is loaded and its first (automatic) result is shown. */
export async function waitFirstResult(page: Page, log: string[], timeout = 120_000): Promise<void> {
  try {
    await page.waitForFunction(() => {
      const s = document.body.dataset.state;
      return s === 'error' || s === 'no-webgpu' || (s === 'ready' && Number(document.body.dataset.results ?? 0) >= 1);
    }, undefined, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`the demo did not show a first result: ${(e as Error).message}\nstatus: ${await statusText(page)}\n${log.join('\n')}`);
  }
  const s = await state(page);
  if (s !== 'ready') throw new Error(`the demo ended in state ${s}: ${await statusText(page)}\n${log.join('\n')}`);
}

export const statusText = (page: Page) => page.locator('#status').textContent().catch(() => '(no status)');

export const lastResult = (page: Page) => page.evaluate(() => (window as unknown as { webvitDemo: { results: DemoResult[] } }).webvitDemo.results.at(-1)!);

/** Runs `act` (which feeds the page an image) and waits for the next result to be shown. */
export async function nextResult(page: Page, log: string[], act: () => Promise<unknown>, timeout = 60_000, name?: string): Promise<DemoResult> {
  const before = await page.evaluate(() => [Number(document.body.dataset.results ?? 0), Number(document.body.dataset.errors ?? 0)]);
  await act();
  try {
    // With `name`, a result for that image: a result still in flight from before `act` (the camera's
    // live loop finishes its last frame after being switched off) is not taken for it.
    await page.waitForFunction(
      ([r, e, n]) => {
        const results = (window as unknown as { webvitDemo: { results: { name: string }[] } }).webvitDemo.results;
        return (Number(document.body.dataset.results ?? 0) > Number(r) && (n === '' || results.at(-1)?.name === n)) || Number(document.body.dataset.errors ?? 0) > Number(e);
      },
      [before[0], before[1], name ?? ''] as const,
      { timeout, polling: 20 },
    );
  } catch (e) {
    throw new Error(`no new result: ${(e as Error).message}\nstatus: ${await statusText(page)}\n${log.join('\n')}`);
  }
  if (Number(await page.evaluate(() => document.body.dataset.errors ?? 0)) > before[1]) {
    throw new Error(`the page failed to classify: ${await statusText(page)}\n${log.join('\n')}`);
  }
  return lastResult(page);
}

/** Picks an example file through the page's file input (what the drop zone's button opens). */
export function pickFile(page: Page, log: string[], name: string): Promise<DemoResult> {
  return nextResult(page, log, () => page.setInputFiles('#file', join(EXAMPLES_DIR, `${name}.png`)), 60_000, `${name}.png`);
}

/** A fresh context (own Cache Storage) with a page on the demo. */
export async function openDemo(browser: Browser, url: string, log: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watchPage(page, log);
  const resp = await page.goto(url);
  if (!resp?.ok()) throw new Error(`GET ${url}: HTTP ${resp?.status()}`);
  return { context, page };
}

/**
 * Same top-5 as Node: same classes in the same order, except that two neighbours whose
 * probabilities differ by less than `tieTol` may come in either order; each probability within
 * `probTol` of Node's. (The pixels are the same; the kernels may be other variants on SwiftShader
 * than on lavapipe, so float32 sums differ in the last bits.)
 */
export function sameTop(browser: TopEntry[], node: TopEntry[], probTol = 1e-3, tieTol = 1e-4): string | undefined {
  if (browser.length !== node.length) return `${browser.length} classes, Node ${node.length}`;
  if (browser[0].index !== node[0].index) return `top-1 ${browser[0].label} (${browser[0].index}), Node ${node[0].label} (${node[0].index})`;
  for (let i = 0; i < node.length; i++) {
    const b = browser[i];
    const n = node[i];
    if (b.index !== n.index) {
      const swapped = node.findIndex((x) => x.index === b.index);
      if (swapped < 0 || Math.abs(node[swapped].score - n.score) >= tieTol) return `place ${i + 1}: ${b.label} (${b.index}), Node ${n.label} (${n.index})`;
    }
    const nodeP = node.find((x) => x.index === b.index)!.score;
    if (Math.abs(b.score - nodeP) > probTol) return `${b.label}: p ${b.score}, Node ${nodeP} (tolerance ${probTol})`;
    if (b.label !== node.find((x) => x.index === b.index)!.label) return `class ${b.index} is "${b.label}" in the page, "${n.label}" in Node`;
  }
  return undefined;
}
