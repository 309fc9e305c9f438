// A read-only static file server on 127.0.0.1 for pages driven in headless Chromium (the browser
// golden test, the demo page's tests, the peer benchmark) and for `npm run web`: a page at `/`,
// folders mounted at URL prefixes, GET/HEAD only, no directory traversal and no symlinks out of a
// mount.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, resolve, sep } from 'node:path';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

/** The request's path, decoded where it decodes, for onRequest. */
function safePathname(url) {
  try {
    return decodeURIComponent(new URL(url ?? '/', 'http://127.0.0.1').pathname);
  } catch {
    return url ?? '/';
  }
}

/** Maps a request path to a file under one of the mounts, or undefined. */
async function resolveRequest(page, mounts, pathname) {
  if (pathname === '/' || pathname === '/index.html') return page;
  for (const [prefix, dir] of mounts) {
    if (!pathname.startsWith(prefix)) continue;
    const rel = pathname.slice(prefix.length);
    if (rel.split(/[\\/]/).some((part) => part === '..' || part === '.')) return undefined;
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return undefined;
    try {
      // Links inside the mount are fine; the real file must stay inside it too.
      const [real, realDir] = await Promise.all([realpath(file), realpath(dir)]);
      if (!real.startsWith(realDir + sep)) return undefined;
      return (await stat(real)).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Starts the server on `port` (default: a free one). `onProblem(status, method, path, why)` hears
 * every refused or failed request; `onRequest(method, pathname, status)` hears every request with
 * the status it got (tests count downloads with it). Resolves to { url, close() }.
 */
export function startStaticServer({ page, mounts, headers = {}, onProblem = () => {}, onRequest = () => {}, port = 0 }) {
  const server = createServer((req, res) => {
    res.on('finish', () => onRequest(req.method, safePathname(req.url), res.statusCode));
    void (async () => {
      const fail = (status, why) => {
        onProblem(status, req.method, req.url, why);
        res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`${status} ${why}\n`);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'read-only server');
      let pathname;
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      } catch {
        return fail(400, 'bad URL');
      }
      if (pathname.includes('\0')) return fail(400, 'bad URL');
      const file = await resolveRequest(page, mounts, pathname);
      if (!file) return fail(404, 'not found');
      const size = (await stat(file)).size;
      res.writeHead(200, {
        ...headers,
        'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': size,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', (e) => res.destroy(e)).pipe(res);
    })().catch((e) => {
      onProblem(500, req.method, req.url, String(e));
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () =>
      ok({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((done) => server.close(() => done())) }),
    );
  });
}
