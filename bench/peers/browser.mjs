// The browser side of the peer benchmark: a local read-only server (cross-origin isolated, so
// ONNX Runtime Web's wasm threads work) and headless Chromium with WebGPU on SwiftShader, the
// same flags as test/browser/golden.test.ts. Every (engine, model) gets a fresh browser, so each
// cold start is cold (no shared device, pipeline cache or wasm instance).
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';

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

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

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

async function resolveFile(table, pathname) {
  if (pathname === '/' || pathname === '/index.html') return join(REPO, 'bench', 'peers', 'page.html');
  for (const [prefix, dir] of table) {
    if (!pathname.startsWith(prefix)) continue;
    const rel = pathname.slice(prefix.length);
    if (rel.split(/[\\/]/).some((p) => p === '..' || p === '.')) return undefined;
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return undefined;
    try {
      // Hard links and symlinks inside the mount are fine (hf/onnx/model.onnx is a hard link).
      const [real, realDir] = await Promise.all([realpath(file), realpath(dir)]);
      if (!real.startsWith(realDir + sep)) return undefined;
      return (await stat(real)).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function startServer(peersDir, log) {
  const table = mounts(peersDir);
  const missing = new Set();
  const server = createServer((req, res) => {
    void (async () => {
      const headers = {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-store',
      };
      let pathname;
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      } catch {
        pathname = '\0';
      }
      const file = req.method === 'GET' || req.method === 'HEAD' ? await resolveFile(table, pathname) : undefined;
      if (!file) {
        // transformers.js probes for optional files (e.g. generation_config.json): a 404 is normal.
        if (!missing.has(pathname)) log(`[server] 404 ${pathname}`);
        missing.add(pathname);
        res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
        return;
      }
      const size = (await stat(file)).size;
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', (e) => res.destroy(e)).pipe(res);
    })().catch((e) => {
      log(`[server] ${req.url}: ${e}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${server.address().port}` }));
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
