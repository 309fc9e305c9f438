import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startStaticServer } from '../../scripts/static-server.mjs';
import type { Browser, FileChooser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPrerequisites,
  EXAMPLES_DIR,
  exampleNames,
  launchChromium,
  nextResult,
  nodeTop5,
  openDemo,
  pickFile,
  REPO,
  sameTop,
  startCountingServer,
  waitFirstResult,
  watchPage,
  type DemoResult,
  type TopEntry,
} from './web_page.js';

// The demo page (web/, `npm run web`) in headless Chromium with WebGPU on SwiftShader, driven as a
// user would: the model loads, the first example is classified on its own, then every example
// image goes in through the file picker (and one each by paste, drop and the camera). Each must
// get Node's top-5 (dist/cli.js on lavapipe): same classes in order, probabilities within 1e-3.
// The screenshot must show the labels and bars where the DOM says they are. The second visit to
// the page must not download the weights again (Cache Storage). Worker mode and a browser
// without WebGPU have files of their own (web_worker.test.ts, web_nowebgpu.test.ts).
// WEBVIT_UPDATE_SCREENSHOT=1 writes the screenshot to docs/web-demo.png (the README's).

let server: Awaited<ReturnType<typeof startCountingServer>>;
let browser: Browser;
let nodeTop: Map<string, TopEntry[]>;
const log: string[] = [];
/** Files the tests write (removed at the end; WEBVIT_UPDATE_SCREENSHOT=1 keeps the screenshot in docs/). */
const scratch = mkdtempSync(join(tmpdir(), 'webvit-web-'));
/** The page of the main-thread tests, after its first result. */
let page: Page;

beforeAll(async () => {
  checkPrerequisites();
  server = await startCountingServer();
  // Node's reference (lavapipe) and the browser start together.
  const [top, b] = await Promise.all([nodeTop5(), launchChromium({ webgpu: true })]);
  nodeTop = top;
  browser = b;
  const t0 = performance.now();
  ({ page } = await openDemo(browser, `${server.url}/`, log));
  await waitFirstResult(page, log);
  const demo = await page.evaluate(() => (window as unknown as { webvitDemo: { firstResultMs: number; readyMs: number } }).webvitDemo);
  const coldStartMs = demo.firstResultMs;
  console.log(
    `cold start (navigation → first result on screen, fresh context, empty caches): ${coldStartMs.toFixed(0)} ms in the page ` +
      `(model ready at ${demo.readyMs.toFixed(0)} ms), ${(performance.now() - t0).toFixed(0)} ms as the test saw it`,
  );
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

function expectSameTop(name: string, r: DemoResult): void {
  const node = nodeTop.get(name);
  expect(node, `Node has no result for ${name}`).toBeDefined();
  const diff = sameTop(r.top, node!);
  expect(diff, `${name}: the page's top-5 ${JSON.stringify(r.top)} differs from Node's ${JSON.stringify(node)}\n${log.join('\n')}`).toBeUndefined();
}

describe('the demo page on the main thread (Chromium, WebGPU on SwiftShader)', () => {
  it('lists exactly the images in examples/', async () => {
    const listed = await page.$$eval('#examples button', (bs) => bs.map((b) => b.getAttribute('data-example')));
    expect(listed.sort()).toEqual(exampleNames());
  });

  it("classifies the first example on its own at load, with Node's top-5", async () => {
    const first = await page.evaluate(() => (window as unknown as { webvitDemo: { results: DemoResult[] } }).webvitDemo.results[0]);
    expectSameTop(first.name, first);
    expect(first.top).toHaveLength(5);
  });

  it('times the first result by stage and by op (stage timing is on by default)', async () => {
    const first = await page.evaluate(() => (window as unknown as { webvitDemo: { results: (DemoResult & { ops: number })[] } }).webvitDemo.results[0]);
    expect(Object.keys(first.stages)).toEqual(['decode', 'upload', 'preprocess', 'forward', 'readback']);
    for (const [stage, ms] of Object.entries(first.stages)) expect(ms, stage).toBeGreaterThanOrEqual(0);
    expect(first.ops, 'dispatches timed').toBeGreaterThan(4);
    const stageRows = await page.$$eval('#stages tbody tr', (trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells).map((c) => c.textContent)));
    expect(stageRows.map((r) => r[0])).toEqual(['decode', 'upload', 'preprocess', 'forward', 'readback', 'total (as the page sees it)']);
    const opRows = await page.$$eval('#ops tbody tr', (trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells).map((c) => c.textContent ?? '')));
    expect(opRows.length, 'rows of the op table').toBeGreaterThan(2);
    // Every kernel is named op/variant, and the dispatch counts add up to the total row's.
    const kernels = opRows.slice(0, -1);
    for (const [k] of kernels) expect(k).toMatch(/^\S+\/\S+$/);
    expect(kernels.reduce((a, r) => a + Number(r[1]), 0)).toBe(Number(opRows.at(-1)![1]));
    // The total is the classification alone, as its note says: the explain() after it is not in it.
    const timed = first as unknown as { totalMs: number; explainMs: number; wallMs: number };
    expect(timed.explainMs, 'explain ran (on by default)').toBeGreaterThan(0);
    expect(timed.totalMs + timed.explainMs).toBeLessThanOrEqual(timed.wallMs + 0.5);
    console.log(`first result's stages (ms): ${JSON.stringify(first.stages)}; ${first.ops} dispatches; total ${timed.totalMs.toFixed(0)} ms, explain ${timed.explainMs.toFixed(0)} ms`);
  });

  it('shows the attention overlay after a result, and the layer slider switches between rollout and each layer', async () => {
    // The first result (the first example) has its explanation: the bundled model has 4 layers
    // and a 4×4 patch grid (28 px / patch 7).
    await page.waitForFunction(() => (window as unknown as { webvitDemo: { explanation?: unknown } }).webvitDemo.explanation !== undefined, undefined, { timeout: 60_000 });
    const shown = await page.evaluate(() => (window as unknown as { webvitDemo: { explanation: { grid: number; layers: number; source: string }; explainErrors: unknown[] } }).webvitDemo);
    expect(shown.explainErrors).toEqual([]);
    expect(shown.explanation.grid).toBe(4);
    expect(shown.explanation.layers).toBe(4);
    expect(await page.isVisible('#overlay')).toBe(true);
    expect(await page.getAttribute('#layer', 'max')).toBe('4');
    expect(await page.textContent('#layer-name')).toContain('rollout');
    expect(await page.textContent('#distance')).toMatch(/Mean attention distance per layer \(px, averaged over heads\): (\d+\.\d, ){3}\d+\.\d\./);
    // The canvas is not blank: the overlay has more than one colour.
    const colours = async () =>
      page.$eval('#overlay', (c) => {
        const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
        const seen = new Set<number>();
        for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return { distinct: seen.size, sum: Array.from(d).reduce((a, b) => a + b, 0) };
      });
    const rollout = await colours();
    expect(rollout.distinct).toBeGreaterThan(8);
    // Keyboard: the slider moves to layer 1, the caption and the picture change.
    await page.focus('#layer');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => document.body.dataset.attentionLayer === '1');
    expect(await page.textContent('#layer-name')).toBe('1 of 4');
    expect(await page.textContent('#distance')).toMatch(/layer 1's heads \(px\): (\d+\.\d, ){3}\d+\.\d\./);
    expect((await colours()).sum).not.toBe(rollout.sum);
    await page.keyboard.press('Home');
    await page.waitForFunction(() => document.body.dataset.attentionLayer === '0');
  });

  it("classifies every example picked through the file input with Node's top-5", async () => {
    // Plain classify() (no stage timing): these are the warm classify times.
    await page.uncheck('#timed');
    const times: number[] = [];
    for (const name of exampleNames()) {
      const r = await pickFile(page, log, name);
      expect(r.name).toBe(`${name}.png`);
      expectSameTop(name, r);
      // What the page shows is that result.
      const shown = await page.$$eval('#top li .label', (ls) => ls.map((l) => l.textContent));
      expect(shown).toEqual(r.top.map((t) => t.label));
      await expect.poll(() => page.locator('#summary').textContent()).toContain(r.top[0].label);
      times.push(r.totalMs);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`warm classify (file → top-5 on screen, main thread): median ${sorted[sorted.length >> 1].toFixed(1)} ms, min ${sorted[0].toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)} over ${times.length} images`);
    await page.check('#timed');
  });

  it('takes an image pasted (Ctrl+V) or dropped on the page', async () => {
    const bytes = [...readFileSync(join(EXAMPLES_DIR, 'bag.png'))];
    const pasted = await nextResult(page, log, () =>
      page.evaluate((b) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(b)], 'pasted-bag.png', { type: 'image/png' }));
        document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, bytes),
    );
    expect(pasted.name).toBe('pasted-bag.png');
    expectSameTop('bag', pasted);
    const dropped = await nextResult(page, log, () =>
      page.evaluate((b) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(b)], 'dropped-bag.png', { type: 'image/png' }));
        document.querySelector('#drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, bytes),
    );
    expect(dropped.name).toBe('dropped-bag.png');
    expectSameTop('bag', dropped);
  });

  it('says what went wrong with a broken image or a dropped non-image, and goes on working', async () => {
    const broken = join(scratch, 'broken.png');
    writeFileSync(broken, readFileSync(join(EXAMPLES_DIR, 'bag.png')).subarray(0, 100)); // cut inside the image data
    const errorsBefore = await page.evaluate(() => Number(document.body.dataset.errors ?? 0));
    await page.setInputFiles('#file', broken);
    await page.waitForFunction((n) => Number(document.body.dataset.errors ?? 0) > n, errorsBefore, { timeout: 30_000 });
    const summary = (await page.locator('#summary').textContent()) ?? '';
    const status = (await page.locator('#status').textContent()) ?? '';
    console.log(`broken PNG: ${status}`);
    expect(summary).toMatch(/^broken\.png: .+\(BAD_INPUT\)$/);
    expect(status).toMatch(/^broken\.png was not classified: /);
    expect(await page.$$eval('#top li', (l) => l.length), 'no bars for a failed image').toBe(0);
    // Nothing of the previous image stays beside the error (issue 18): its attention map, its times.
    expect(await page.locator('#attention').isHidden(), "the previous image's attention map").toBe(true);
    expect(await page.$$eval('#stages tbody tr', (r) => r.length), "the previous image's stage times").toBe(0);
    expect(await page.$$eval('#ops tbody tr', (r) => r.length), "the previous image's op times").toBe(0);
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['just text'], 'notes.txt', { type: 'text/plain' }));
      document.querySelector('#drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    expect(await page.locator('#status').textContent()).toBe('That was not an image file.');
    expectSameTop('pullover', await pickFile(page, log, 'pullover'));
  });

  it('is keyboard usable: Tab reaches the drop zone, Enter opens the file picker, an example button classifies', async () => {
    // A click on the heading puts Chromium's focus-navigation starting point there, whatever had focus.
    await page.click('header h1');
    let reached = false;
    for (let i = 0; i < 3 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'drop');
    }
    expect(reached, 'Tab never reached the drop zone').toBe(true);
    const outline = await page.$eval('#drop', (e) => getComputedStyle(e).outlineStyle);
    expect(outline, 'the focused drop zone shows no outline').not.toBe('none');
    // Enter opens the picker. Chromium opens it only within the key press's user activation (5 s):
    // on a loaded 2-core machine a first press has timed out (twice in 2026-11-30's full runs, never
    // alone), so up to three presses, each with the focus checked first; a page where Enter does
    // nothing still fails.
    let chooser: FileChooser | undefined;
    for (let attempt = 0; attempt < 3 && !chooser; attempt++) {
      expect(await page.evaluate(() => document.activeElement?.id), 'focus left the drop zone').toBe('drop');
      [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 10_000 }).catch(() => undefined), page.keyboard.press('Enter')]);
    }
    if (!chooser) throw new Error('Enter on the focused drop zone never opened the file picker (3 presses, 10 s each)');
    const r = await nextResult(page, log, () => chooser.setFiles(join(EXAMPLES_DIR, 'dress.png')));
    expectSameTop('dress', r);
    const viaExample = await nextResult(page, log, async () => {
      await page.locator('#examples button[data-example="sneaker"]').focus();
      await page.keyboard.press('Space');
    });
    expectSameTop('sneaker', viaExample);
  });

  it('classifies a camera frame (Chromium fake camera)', async () => {
    await page.click('#camera');
    await page.waitForFunction(() => {
      const v = document.querySelector('#video') as HTMLVideoElement;
      return !v.hidden && v.readyState >= 2 && v.videoWidth > 0;
    }, undefined, { timeout: 20_000 });
    const r = await nextResult(page, log, () => page.click('#capture'));
    expect(r.name).toBe('camera frame');
    expect(r.top).toHaveLength(5);
    const sum = r.top.reduce((a, t) => a + t.score, 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(1 + 1e-5);
    // Live: frame after frame, one in flight at a time, until switched off.
    const before = await page.evaluate(() => Number(document.body.dataset.results));
    await page.check('#live');
    await page.waitForFunction((n) => Number(document.body.dataset.results) >= n + 3, before, { timeout: 30_000 });
    await page.uncheck('#live');
    await page.click('#camera'); // stop
    await expect.poll(() => page.locator('#video').isHidden()).toBe(true);
  });

  it('shows the result in a screenshot: labels and bars where the DOM puts them', async () => {
    // The op table and the kernels open, as in the README's picture.
    for (const d of ['#ops-details', '#kernels-details']) if (!(await page.locator(d).getAttribute('open'))) await page.locator(`${d} summary`).click();
    const r = await pickFile(page, log, 'ankle-boot');
    expectSameTop('ankle-boot', r);
    // Transitions (the bars grow) are finished first, so pixels and the DOM's boxes agree.
    const png = await page.screenshot({ fullPage: true, animations: 'disabled' });
    const out = process.env.WEBVIT_UPDATE_SCREENSHOT === '1' ? join(REPO, 'docs', 'web-demo.png') : join(scratch, 'web-demo.png');
    writeFileSync(out, png);
    console.log(`screenshot: ${out} (${png.length} bytes${out.startsWith(scratch) ? "; removed at the end, WEBVIT_UPDATE_SCREENSHOT=1 writes docs/web-demo.png" : ""})`);
    // The rows as laid out when the screenshot was taken: text, and where the label and bar are.
    const rows = await page.$$eval('#top li', (lis) =>
      lis.map((li) => {
        const box = (sel: string) => {
          const b = li.querySelector(sel)!.getBoundingClientRect();
          return { x: b.x + scrollX, y: b.y + scrollY, w: b.width, h: b.height };
        };
        const fill = li.querySelector('.bar > span')!;
        return {
          label: li.querySelector('.label')!.textContent,
          score: li.querySelector('.score')!.textContent,
          labelBox: box('.label'),
          barBox: box('.bar'),
          fillBox: box('.bar > span'),
          fillColor: getComputedStyle(fill).backgroundColor,
          panelColor: getComputedStyle(document.querySelector('#result-panel')!).backgroundColor,
        };
      }),
    );
    expect(rows.map((x) => x.label)).toEqual(r.top.map((t) => t.label));
    const img = PNG.sync.read(png);
    const rgb = (s: string) => s.match(/\d+/g)!.slice(0, 3).map(Number);
    const px = (x: number, y: number) => {
      const i = 4 * (Math.round(y) * img.width + Math.round(x));
      return [img.data[i], img.data[i + 1], img.data[i + 2]];
    };
    const near = (a: number[], b: number[], tol = 24) => a.every((v, i) => Math.abs(v - b[i]) <= tol);
    for (const [i, row] of rows.entries()) {
      const { labelBox: lb, fillBox: fb, barBox: bb } = row;
      for (const b of [lb, fb]) expect(b.x + b.w <= img.width && b.y + b.h <= img.height, `${row.label}: outside the screenshot`).toBe(true);
      // The label's box holds text: a fair share of its pixels are not the panel's colour.
      const bg = rgb(row.panelColor);
      let ink = 0;
      let all = 0;
      for (let y = lb.y + 1; y < lb.y + lb.h - 1; y++) {
        for (let x = lb.x; x < lb.x + Math.min(lb.w, 60); x++, all++) if (!near(px(x, y), bg, 40)) ink++;
      }
      expect(ink / all, `${row.label}: no text drawn where the label is`).toBeGreaterThan(0.03);
      // The bar's filled part has the bar colour, and its length is the probability.
      expect(near(px(fb.x + Math.min(fb.w, 6) / 2, fb.y + fb.h / 2), rgb(row.fillColor)), `${row.label}: bar colour`).toBe(true);
      const p = r.top[i].score;
      expect(Math.abs(fb.w - Math.max(2, p * bb.w)), `${row.label}: bar length for ${row.score}`).toBeLessThanOrEqual(2);
    }
  });

  it('names every control for assistive technology, and announces results', async () => {
    const tree = await page.locator('main').ariaSnapshot();
    for (const want of [
      /button "Drop an image here, or choose one"$/m,
      /list "Most likely classes"/,
      /button "Use the camera"/,
      /button "Classify the example ankle-boot"/,
      /button "Load a converted model…"/,
      /checkbox "Time each stage and GPU op"/,
      /checkbox "Run the model in a Web Worker"/,
      /status: .+/,
      /table "Time per stage of the last classification"/,
    ]) {
      expect(tree, `accessibility tree lacks ${want}:\n${tree}`).toMatch(want);
    }
    expect(await page.getAttribute('#result', 'aria-live')).toBe('polite');
    expect(await page.getAttribute('#status', 'role')).toBe('status');
  });

  it('shows the adapter and the kernels it chose', async () => {
    const info = await page.$$eval('#info dt, #info dd', (els) => els.map((e) => e.textContent ?? ''));
    const adapter = info[info.indexOf('Adapter') + 1];
    expect(adapter.toLowerCase()).toContain('swiftshader');
    const kernels = await page.$$eval('#kernels dd', (els) => els.map((e) => e.textContent ?? ''));
    expect(kernels.length, 'no kernels listed').toBeGreaterThan(0);
  });

  it('loads a converted model from disk, classifies the last image with it, and keeps working after a bad file', async () => {
    const tiny = join(REPO, 'test', 'fixtures', 'tiny', 'model.safetensors');
    // The last image shown is classified again with the new model: the next result is that.
    const r = await nextResult(page, log, () => page.setInputFiles('#model-file', tiny));
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('ready');
    const info = await page.$$eval('#info dt, #info dd', (els) => els.map((e) => e.textContent ?? ''));
    expect(info[info.indexOf('Model') + 1]).toBe('model.safetensors');
    expect(info[info.indexOf('Shape') + 1]).toContain('32×32×3');
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli.js', 'classify', 'examples/ankle-boot.png', '--model', tiny, '--json', '--top', '5'], { cwd: REPO, env: { ...process.env, CI: '1' } });
    const node = (JSON.parse(stdout) as { top: { label: string; index: number; p: number }[] }).top.map((t) => ({ label: t.label, index: t.index, score: t.p }));
    expect(r.name).toBe('ankle-boot.png');
    expect(sameTop(r.top, node), `tiny model on ankle-boot.png: ${JSON.stringify(r.top)} vs Node ${JSON.stringify(node)}`).toBeUndefined();
    // Not a weight file: the error is shown, and the model in use stays.
    const errorsBefore = await page.evaluate(() => Number(document.body.dataset.loadErrors ?? 0));
    await page.setInputFiles('#model-file', join(EXAMPLES_DIR, 'bag.png'));
    await page.waitForFunction((n) => Number(document.body.dataset.loadErrors ?? 0) > n && document.body.dataset.state === 'ready', errorsBefore, { timeout: 30_000 });
    const status = (await page.locator('#status').textContent()) ?? '';
    console.log(`a PNG picked as the model: ${status}`);
    expect(status).toMatch(/bag\.png did not load: .*BAD_WEIGHTS.*Still using model\.safetensors/);
    expect(await page.locator('#status').getAttribute('class')).toContain('error');
    // Back to the bundled model: the last image gets the bundled model's classes again.
    const back = await nextResult(page, log, () => page.click('#model-default'));
    expectSameTop('ankle-boot', back);
    expect(await page.locator('#model-default').isHidden()).toBe(true);
  });

  it('serves the second visit from Cache Storage: no second download of the weights', async () => {
    // A fresh context: empty Cache Storage, as a first visit.
    const context = await browser.newContext();
    const seen: string[] = [];
    context.on('request', (req) => req.url().endsWith('.safetensors') && seen.push(req.url()));
    const p = await context.newPage();
    watchPage(p, log);
    try {
      const before = server.weightDownloads();
      await p.goto(`${server.url}/`);
      await waitFirstResult(p, log);
      expect(server.weightDownloads() - before, 'first visit: weight downloads').toBe(1);
      const t0 = performance.now();
      await p.reload();
      await waitFirstResult(p, log);
      const warmStart = await p.evaluate(() => (window as unknown as { webvitDemo: { firstResultMs: number } }).webvitDemo.firstResultMs);
      console.log(`second visit (weights from Cache Storage): first result ${warmStart.toFixed(0)} ms after navigation (${(performance.now() - t0).toFixed(0)} ms as the test saw it)`);
      expect(server.weightDownloads() - before, 'weight downloads after the second visit').toBe(1);
      expect(seen.length, `requests for weights the browser made: ${seen.join(', ')}`).toBe(1);
      const cached = await p.evaluate(async () => {
        const names = await caches.keys();
        const urls: string[] = [];
        for (const n of names) for (const req of await (await caches.open(n)).keys()) urls.push(req.url);
        return urls;
      });
      expect(cached.some((u) => u.endsWith('.safetensors')), `Cache Storage holds: ${cached.join(', ')}`).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('works as plain static files: the repository served as it is, the page at /web/index.html, ?model= another weight file', async () => {
    const problems: string[] = [];
    const plain = await startStaticServer({
      page: join(REPO, 'web', 'index.html'),
      mounts: [['/', REPO]],
      onProblem: (status, method, url, why) => problems.push(`${method} ${url}: ${status} ${why}`),
    });
    const { context, page: p } = await openDemo(browser, `${plain.url}/web/index.html?model=../test/fixtures/tiny/model.safetensors`, log);
    try {
      await waitFirstResult(p, log);
      const first = await p.evaluate(() => (window as unknown as { webvitDemo: { results: DemoResult[] } }).webvitDemo.results[0]);
      expect(first.top[0].label, 'the tiny fixture model labels its classes class_N').toMatch(/^class_\d$/);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await plain.close();
    }
  });

  it('made no requests the server refused', () => {
    expect(server.problems).toEqual([]);
    expect(log.filter((l) => l.startsWith('[uncaught]') || l.startsWith('[crash]'))).toEqual([]);
  });
});
