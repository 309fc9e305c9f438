// Serves the demo page (web/) with the browser bundle (dist/), the bundled model (models/) and the
// example images (examples/) on 127.0.0.1, read-only. `npm run web` builds and runs this;
// test/browser/web.test.ts starts the same server through startDemoServer().
//   node web/serve.mjs [--port N]      (default 8080, or WEBVIT_PORT; a free port if that is taken)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startStaticServer } from '../scripts/static-server.mjs';

const WEB = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(WEB, '..');

/**
 * The page's relative URLs (`../dist/…`, `../models/…`) resolve to these mounts when it is served
 * at `/`, and to the same files when any static server serves the repository root and the page
 * is opened at `/web/`.
 */
export const DEMO_MOUNTS = [
  ['/dist/', join(REPO, 'dist')],
  ['/models/', join(REPO, 'models')],
  ['/examples/', join(REPO, 'examples')],
  ['/', WEB],
];

/** Starts the demo server; options as startStaticServer's (onRequest, onProblem, port). */
export function startDemoServer(options = {}) {
  return startStaticServer({ page: join(WEB, 'index.html'), mounts: DEMO_MOUNTS, ...options });
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  const wanted = Number(at >= 0 ? args[at + 1] : (process.env.WEBVIT_PORT ?? 8080));
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
    console.error(`webvit web: --port wants a whole number from 0 to 65535, got ${at >= 0 ? args[at + 1] : process.env.WEBVIT_PORT}`);
    process.exit(2);
  }
  const onProblem = (status, method, url, why) => {
    if (!url?.endsWith('favicon.ico')) console.error(`${method} ${url}: ${status} ${why}`);
  };
  let server;
  try {
    server = await startDemoServer({ port: wanted, onProblem });
  } catch (e) {
    if (e?.code !== 'EADDRINUSE') throw e;
    console.error(`port ${wanted} is taken; using a free one`);
    server = await startDemoServer({ port: 0, onProblem });
  }
  console.log(`webvit demo: ${server.url}/  (Ctrl+C to stop)`);
  console.log('It needs a browser with WebGPU (recent Chrome, Edge or Safari; on Linux Chrome, chrome://flags/#enable-unsafe-webgpu).');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
