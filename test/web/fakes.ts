/**
 * Stand-ins for the browser's network and Cache Storage in Node, for the web API's tests: a fetch
 * that serves files from a Map (with misbehaviours on request) and counts requests, and a
 * CacheStorage kept in memory.
 */

export interface Served {
  body: Uint8Array;
  status?: number;
  /** Content-Length to announce (default: the body's length; null: none). */
  contentLength?: number | null;
  contentEncoding?: string;
  /** Stop the body after this many bytes with a stream error (a broken connection). */
  breakAfter?: number;
  /** Chunk size of the body stream. */
  chunk?: number;
}

export interface FakeFetch {
  fetch: typeof fetch;
  /** URLs requested, in order. */
  requests: string[];
  files: Map<string, Served>;
}

export function fakeFetch(files: Record<string, Served> = {}): FakeFetch {
  const map = new Map(Object.entries(files));
  const requests: string[] = [];
  const f = async (input: RequestInfo | URL): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    requests.push(url);
    const s = map.get(url);
    if (!s) return new Response('not found', { status: 404, statusText: 'Not Found' });
    const headers = new Headers();
    const len = s.contentLength === undefined ? s.body.byteLength : s.contentLength;
    if (len !== null) headers.set('content-length', String(len));
    if (s.contentEncoding) headers.set('content-encoding', s.contentEncoding);
    const chunk = s.chunk ?? 4096;
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (s.breakAfter !== undefined && at >= s.breakAfter) {
          controller.error(new TypeError('network error: connection reset'));
          return;
        }
        if (at >= s.body.byteLength) {
          controller.close();
          return;
        }
        const end = Math.min(s.body.byteLength, at + chunk, s.breakAfter ?? Infinity);
        controller.enqueue(s.body.slice(at, end));
        at = end;
      },
    });
    return new Response(stream, { status: s.status ?? 200, headers });
  };
  return { fetch: f as typeof fetch, requests, files: map };
}

/** CacheStorage in memory: entries are stored as bytes and served as fresh Responses. */
export function fakeCaches(): CacheStorage & { entries: Map<string, Map<string, { body: Uint8Array; headers: [string, string][] }>> } {
  const entries = new Map<string, Map<string, { body: Uint8Array; headers: [string, string][] }>>();
  const keyOf = (r: RequestInfo | URL) => (typeof r === 'string' ? r : r instanceof URL ? r.href : r.url);
  const open = async (name: string) => {
    if (!entries.has(name)) entries.set(name, new Map());
    const m = entries.get(name)!;
    return {
      async match(r: RequestInfo | URL) {
        const e = m.get(keyOf(r));
        return e ? new Response(e.body.slice(), { headers: e.headers }) : undefined;
      },
      async put(r: RequestInfo | URL, response: Response) {
        m.set(keyOf(r), { body: new Uint8Array(await response.arrayBuffer()), headers: Array.from((response.headers as unknown as { entries(): Iterable<[string, string]> }).entries()) });
      },
      async delete(r: RequestInfo | URL) {
        return m.delete(keyOf(r));
      },
    } as unknown as Cache;
  };
  return {
    entries,
    open,
    has: async (name: string) => entries.has(name),
    delete: async (name: string) => entries.delete(name),
    keys: async () => [...entries.keys()],
    match: async () => undefined,
  } as unknown as CacheStorage & { entries: typeof entries };
}

/**
 * An HTTP server on 127.0.0.1 for downloads that go wrong: `/model` serves `body`, `/stall` sends
 * the headers (the full Content-Length) and the first `sent` bytes, then nothing; `/silent` never
 * answers. `seen` records each request and whether the client closed it before its end.
 */
export async function startStallServer(body: Uint8Array, sent: number) {
  const { createServer } = await import('node:http');
  const seen: { path: string; closed: boolean }[] = [];
  const server = createServer((req, res) => {
    const s = { path: req.url ?? '', closed: false };
    seen.push(s);
    res.on('close', () => (s.closed = !res.writableFinished));
    if (req.url === '/silent') return;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) });
    if (req.url === '/model') res.end(body);
    else res.write(body.subarray(0, sent));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** Whether the last request for `path` was closed by the client before the server ended it. */
    closed: (path: string) => seen.filter((s) => s.path === path).at(-1)?.closed === true,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
