// The browser side of the peer benchmark: a local read-only server (cross-origin isolated, so
// ONNX Runtime Web's wasm threads work) and headless Chromium with WebGPU on SwiftShader, the
// same flags as test/browser/golden.test.ts. Every (engine, model) gets a fresh browser, so each
// cold start is cold (no shared device, pipeline cache or wasm instance).
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../../scripts/static-server.mjs';

const REPO = resolve(import.meta.dirname, '..', '..');
export const CHROMIUM = process.env.WEBVIT_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function mounts(peersDir) {
  const req = createRequire(join(REPO, 'package.json'));
  const ortDist = dirname(req.resolve('onnxruntime-web'));
  const tjsRoot = dirname(dirname(req.resolve('@huggingface/transformers')));
  const tjsOrtDist = dirname(createRequire(join(tjsRoot, 'package.json')).resolve('onnxruntime-web'));
  return [
    ['/dist/', join(REPO, 'dist')],
    ['/bench/', join(REPO, 'bench', 'peers')],
    ['/peers/', peersDir],
    ['/ort/', ortDist],
    ['/tjs/', join(tjsRoot, 'dist')],
    ['/tjs-ort/', tjsOrtDist],
  ];
}

/** Serves the peers page, webvit's bundle, the exported models and the peers' runtimes, cross-origin isolated (threaded WASM). */
export function startServer(peersDir, log) {
  const missing = new Set();
  return startStaticServer({
    page: join(REPO, 'bench', 'peers', 'page.html'),
    mounts: mounts(peersDir),
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    onProblem: (status, method, url, why) => {
      // transformers.js probes for optional files (e.g. generation_config.json): a 404 is normal.
      if (status === 404 && missing.has(url)) return;
      missing.add(url);
      log(`[server] ${status} ${method} ${url}: ${why}`);
    },
  });
}

/**
 * One engine on one model in a fresh headless Chromium: { call(cmd, arg), close(), info }.
 * `call` runs a measure.mjs Runner method in the page; a page error or crash makes it throw.
 */
export async function openBrowserRemote(url, engine, model, tol, log, timeoutMs) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('console', (m) => log(m.text()));
    page.on('pageerror', (e) => errors.push(String(e?.stack ?? e)));
    page.on('crash', () => errors.push('the page crashed'));
    page.setDefaultTimeout(timeoutMs);
    await page.goto(`${url}/`);
    await page.waitForFunction(() => window.peerReady === true, undefined, { timeout: 30_000 });
    const probe = await page.evaluate(() => window.peerProbe());
    await page.evaluate(([e, m, t]) => window.peerSetup(e, m, t), [engine, model, tol]);
    return {
      info: { where: 'chromium', browser: `Chromium ${browser.version()}`, crossOriginIsolated: probe.crossOriginIsolated },
      async call(cmd, arg) {
        const value = await page.evaluate(([c, a]) => window.peerCall(c, a), [cmd, arg]);
        if (errors.length) throw new Error(`uncaught in the page: ${errors.join('; ')}`);
        return value;
      },
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}
