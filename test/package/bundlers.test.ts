import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { checkPrerequisites, launchChromium } from '../browser/web_page.js';
import { installOffline, pack } from '../helpers/offline_install.js';

// Issue 18: web apps built with the real tools (from npm, pinned in the lockfile) and the packed
// `webvit` installed into them, as README.md's "In your build" says: Vite (its build, and its dev
// server), webpack 5 and esbuild. Each app classifies examples/bag.png on the page and in the
// worker (`worker: true`, the worker found by the bundler from webvit's
// `new Worker(new URL('./webvit.worker.js', import.meta.url))`), opened in Chromium (WebGPU on
// SwiftShader); each build's output holds the browser bundle and the worker and no Node or CLI file.

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** The app: README's example, on the page and in the worker; its result goes to window.result. */
const MAIN = `import { createImageClassifier } from 'webvit';

const result = {};
try {
  const image = new Image();
  image.src = new URL('./bag.png', document.baseURI).href;
  await image.decode();
  for (const worker of [false, true]) {
    const clf = await createImageClassifier({ model: new URL('./model.safetensors', document.baseURI).href, worker, cache: false });
    const [top] = await clf.classify(image, { topK: 1 });
    result[worker ? 'worker' : 'page'] = top.label;
    await clf.dispose();
  }
} catch (e) {
  result.error = \`\${e?.code}: \${e?.message}\`;
}
window.result = result;
`;
const HTML = (script: string) => `<!doctype html><html><head><meta charset="utf-8"><title>app</title></head><body><script type="module" src="${script}"></script></body></html>\n`;

let tmp: string;
let app: string;
let browser: Browser | undefined;
beforeAll(async () => {
  checkPrerequisites();
  tmp = mkdtempSync(join(tmpdir(), 'webvit-bundlers-'));
  app = join(tmp, 'app');
  mkdirSync(join(app, 'public'), { recursive: true });
  installOffline(app, pack(ROOT, tmp), pkg);
  writeFileSync(join(app, 'main.js'), MAIN);
  cpSync(join(ROOT, 'models', 'fashion-mnist', 'model.safetensors'), join(app, 'public', 'model.safetensors'));
  cpSync(join(ROOT, 'examples', 'bag.png'), join(app, 'public', 'bag.png'));
  browser = await launchChromium({ webgpu: true });
}, 300_000);
afterAll(async () => {
  await browser?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Opens `url` and waits for the app's result (bounded). */
async function resultAt(url: string): Promise<Record<string, string>> {
  const page = await browser!.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  try {
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { result?: object }).result !== undefined, undefined, { timeout: 180_000 }).catch(() => {
      throw new Error(`no result from ${url} in 180 s; console:\n${log.join('\n')}`);
    });
    return await page.evaluate(() => (window as unknown as { result: Record<string, string> }).result);
  } finally {
    await page.close();
  }
}

/** Serves `dir` on 127.0.0.1 and returns the app's result there. */
async function served(dir: string): Promise<Record<string, string>> {
  const server = await startStaticServer({ page: join(dir, 'index.html'), mounts: [['/', dir]] });
  try {
    return await resultAt(`${server.url}/`);
  } finally {
    await server.close();
  }
}

/** Every file under `dir`, relative, with its size. */
function files(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.set(relative(dir, join(d, e.name)), statSync(join(d, e.name)).size);
    }
  };
  walk(dir);
  return out;
}

/** The output of a build: the worker and the bundle are in it, nothing of Node or the CLI. */
function checkOutput(dir: string): void {
  const all = files(dir);
  const js = [...all].filter(([f]) => /\.m?js$/.test(f));
  const text = js.map(([f]) => readFileSync(join(dir, f), 'utf8'));
  // The worker (its message handler) exactly once: not missing, and not emitted twice.
  const workers = js.filter((_, i) => text[i].includes('self.onmessage')).map(([f]) => f);
  expect(workers, `the worker among ${[...all.keys()].join(', ')}`).toHaveLength(1);
  for (const [f] of all) expect(f, 'no CLI or Node file').not.toMatch(/(^|\/)(cli|node|chunk-[A-Z0-9]+)\.js$/);
  for (const t of text) expect(t).not.toMatch(/from\s*["']node:|require\(["']node:|webgpu\/dist|vega/);
  const bytes = js.reduce((n, [, s]) => n + s, 0);
  // The browser bundle with its chunks and the worker are each about 300 KB minified; the converter
  // (model ids, converted where the model is loaded) is about 120 KB of each: in the page's
  // on-demand chunk, and inlined in the worker (one file).
  expect(bytes, `JavaScript bytes: ${js.map(([f, s]) => `${f} ${s}`).join(', ')}`).toBeLessThan(700_000);
  console.log(`${relative(tmp, dir)}: ${js.map(([f, s]) => `${f} ${(s / 1024).toFixed(0)} KiB`).join(', ')}`);
}

describe('web apps built with the packed package', () => {
  it('esbuild: bundle the app, copy the worker beside it (README "In your build")', async () => {
    const { build } = await import('esbuild');
    const out = join(app, 'out-esbuild');
    await build({ entryPoints: [join(app, 'main.js')], bundle: true, format: 'esm', outdir: out, absWorkingDir: app, logLevel: 'silent', minify: true });
    cpSync(join(app, 'node_modules', 'webvit', 'dist', 'webvit.worker.js'), join(out, 'webvit.worker.js'));
    cpSync(join(app, 'public'), out, { recursive: true });
    writeFileSync(join(out, 'index.html'), HTML('./main.js'));
    checkOutput(out);
    expect(await served(out)).toEqual({ page: 'Bag', worker: 'Bag' });
  });

  it('webpack 5: nothing to configure; it emits the worker itself', async () => {
    const { default: webpack } = await import('webpack');
    const out = join(app, 'out-webpack');
    const stats = await new Promise<import('webpack').Stats>((resolve, reject) =>
      webpack({ mode: 'production', context: app, entry: './main.js', output: { path: out, filename: 'main.js' }, target: 'web', devtool: false }, (err, s) => (err ? reject(err) : resolve(s!))),
    );
    expect(stats.hasErrors(), stats.toString('errors-only')).toBe(false);
    cpSync(join(app, 'public'), out, { recursive: true });
    writeFileSync(join(out, 'index.html'), HTML('./main.js'));
    checkOutput(out);
    expect(await served(out)).toEqual({ page: 'Bag', worker: 'Bag' });
  });

  it('Vite: `vite build` with nothing to configure', async () => {
    const { build } = await import('vite');
    writeFileSync(join(app, 'index.html'), HTML('/main.js'));
    const out = join(app, 'out-vite');
    await build({ root: app, configFile: false, logLevel: 'silent', build: { outDir: out, emptyOutDir: true } });
    checkOutput(out);
    expect(await served(out)).toEqual({ page: 'Bag', worker: 'Bag' });
  });

  it("Vite's dev server, with webvit kept out of dependency pre-bundling (README's vite.config.js)", async () => {
    const { createServer } = await import('vite');
    writeFileSync(join(app, 'index.html'), HTML('/main.js'));
    const server = await createServer({ root: app, configFile: false, logLevel: 'silent', optimizeDeps: { exclude: ['webvit'] }, server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false } });
    await server.listen();
    try {
      const address = server.httpServer!.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      expect(await resultAt(`http://127.0.0.1:${port}/`)).toEqual({ page: 'Bag', worker: 'Bag' });
    } finally {
      await server.close();
    }
  });
});

