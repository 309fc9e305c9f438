import { clip, WebvitError } from '../errors.js';
import { DEFAULT_HUB_URL, resolveUrl } from './id.js';

/**
 * The Hugging Face Hub's file download, as its clients do it (docs/model-ids.md), for the page and
 * for Node alike: `GET {hubUrl}/{id}/resolve/{revision}/{file}`. What the Hub states about a file
 * comes in headers (huggingface_hub's get_hf_file_metadata reads the same ones):
 * - `X-Repo-Commit`: the commit the revision resolved to;
 * - `ETag`: the git blob sha1 of a regular file; for a large (LFS) file the Hub answers with a
 *   redirect to its CDN and states the file's sha256 in `X-Linked-Etag` and its size in
 *   `X-Linked-Size`;
 * - errors: `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and
 *   `X-Error-Message`; an unknown repository answers 401 to a request without a token, since the
 *   Hub does not say whether a private one exists.
 *
 * In Node (`manualRedirects`), redirects are followed here: the redirect's headers are read, a
 * relative one (a renamed repository) keeps the token, one to another origin (the CDN, whose
 * URLs are signed) is fetched without it. A browser's fetch follows them itself, hides the
 * redirect's headers, and drops Authorization when the origin changes; there the commit comes from
 * a small file the Hub serves itself (config.json), and sizes from Content-Length.
 *
 * A download resumes with `Range` after a connection that broke off, and retries HTTP 429 and 5xx
 * answers, a few times with growing pauses; a server that sends nothing for `idleTimeoutMs` is a
 * NETWORK error. The caller's signal stops everything with ABORTED.
 */

export interface HubOptions {
  /** The Hub (default https://huggingface.co; a mirror or a self-hosted copy). */
  hubUrl?: string;
  /** An access token (`hf_...`), sent as `Authorization: Bearer` to hubUrl only. */
  token?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** A request or download that receives nothing for this long fails (default 30 s; 0: never). */
  idleTimeoutMs?: number;
  /** How often a broken or refused (429, 5xx) transfer is tried again (default 4). */
  retries?: number;
  /** Follow redirects by hand, reading their headers (Node; see above). */
  manualRedirects?: boolean;
  /** @internal Pause before retry `n` (tests make it 0). */
  backoffMs?: (n: number) => number;
}

/** What the Hub states about a file. */
export interface HubFile {
  id: string;
  revision: string;
  file: string;
  /** The resolve URL. */
  url: string;
  /** Where the bytes come from (the CDN for a redirected file). */
  location: string;
  /** X-Repo-Commit. */
  commit?: string;
  /** X-Linked-Etag or ETag, without quotes or W/: sha256 hex for LFS files, git blob sha1 for others. */
  etag?: string;
  /** X-Linked-Size or Content-Length (of a whole, identity-encoded body). */
  size?: number;
}

export const DEFAULT_HUB_IDLE_MS = 30_000;
const DEFAULT_RETRIES = 4;
const MAX_REDIRECTS = 10;

const hubOf = (o: HubOptions) => (o.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
const originOf = (u: string) => {
  try {
    return new URL(u).origin;
  } catch {
    return undefined;
  }
};

/** `ETag: W/"abc"` → `abc` (huggingface_hub's _normalize_etag). */
export const normalizeEtag = (e: string | null | undefined): string | undefined => (e ? e.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined : undefined);

const sizeOf = (v: string | null): number | undefined => {
  if (v === null || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
};

/** How messages name a file of a repository. */
export const fileName = (id: string, revision: string, file: string) => `${clip(file, 120)} of ${clip(id, 200)}${revision === 'main' ? '' : `@${clip(revision, 80)}`}`;

/** Whether a failure may go away when tried again (a broken connection, 429, 5xx). */
export const retryable = (e: unknown): boolean => e instanceof WebvitError && e.code === 'NETWORK' && (e as { retry?: boolean }).retry === true;

function networkError(message: string, retry: boolean, cause?: unknown): WebvitError {
  const e = new WebvitError('NETWORK', message, cause === undefined ? undefined : { cause });
  (e as { retry?: boolean }).retry = retry;
  return e;
}

/**
 * The error for a failed answer, from its status and the Hub's X-Error-Code, naming the model, the
 * file and the way out. `optional` files that do not exist give undefined instead.
 */
export function hubFailure(status: number, headers: Headers, body: string, at: { id: string; revision: string; file: string; hubUrl: string; token?: string }): WebvitError {
  const code = headers.get('x-error-code') ?? '';
  const said = headers.get('x-error-message') ?? jsonError(body);
  const server = said ? ` (the server: "${clip(said, 200)}")` : '';
  const what = fileName(at.id, at.revision, at.file);
  const page = `${at.hubUrl}/${at.id}`;
  if (code === 'GatedRepo' || (status === 403 && code === '')) {
    return new WebvitError(
      'UNAUTHORIZED',
      at.token
        ? `${clip(at.id, 200)} is gated or private, and the token given has no access to it (HTTP ${status})${server}: accept its conditions at ${page} with the account the token belongs to, or use a token of an account that has access`
        : `${clip(at.id, 200)} is gated or private: it needs an access token (HTTP ${status})${server}. Accept its conditions at ${page}, make a token at ${at.hubUrl}/settings/tokens and pass it: \`token\` option in the page, HF_TOKEN in the terminal`,
    );
  }
  if (code === 'RepoNotFound' || (status === 401 && code === '' && !at.token)) {
    return new WebvitError(
      'NOT_FOUND',
      `no model ${clip(at.id, 200)} on ${at.hubUrl} (HTTP ${status})${server}: check the id (as on the Hub, e.g. google/vit-base-patch16-224)${at.token ? '' : '; a private model needs a token (`token` option, HF_TOKEN)'}`,
    );
  }
  if (status === 401) return new WebvitError('UNAUTHORIZED', `${at.hubUrl} refused the token given for ${clip(at.id, 200)} (HTTP 401)${server}: it is invalid or expired; make a new one at ${at.hubUrl}/settings/tokens`);
  if (code === 'RevisionNotFound') return new WebvitError('NOT_FOUND', `${clip(at.id, 200)} has no revision ${clip(at.revision, 80)} (HTTP ${status})${server}: give a branch, tag or commit it has (default main)`);
  if (code === 'EntryNotFound' || status === 404) return new WebvitError('NOT_FOUND', `${what}: no such file (HTTP ${status})${server}`);
  const retry = status === 429 || status >= 500;
  return networkError(`${at.hubUrl} answered HTTP ${status} for ${what}${server}${retry ? '; try again later' : ''}`, retry);
}

function jsonError(body: string): string | undefined {
  try {
    const e = (JSON.parse(body) as { error?: unknown })?.error;
    return typeof e === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

/** The caller's signal and an idle clock over one request and its body. */
export class IdleWatch {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stop!: (e: WebvitError) => void;
  private readonly stopped = new Promise<never>((_, reject) => (this.stop = reject));
  private readonly onAbort = () => this.end(new WebvitError('ABORTED', `stopped by the caller's signal while downloading ${this.what}`, { cause: this.outer?.reason }));
  received = 0;
  constructor(
    private readonly what: string,
    private readonly ms: number,
    private readonly outer?: AbortSignal,
  ) {
    this.stopped.catch(() => undefined);
    outer?.addEventListener('abort', this.onAbort);
    if (outer?.aborted) this.onAbort();
    this.tick(0);
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  /** `p`, unless the signal or the idle clock stops the transfer first. */
  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.stopped]);
  }
  /** Bytes so far; restarts the clock. */
  tick(received: number): void {
    this.received = received;
    clearTimeout(this.timer);
    if (this.ms > 0) {
      this.timer = setTimeout(
        () => this.end(networkError(`download of ${this.what} stalled: no data for ${this.ms} ms after ${this.received} bytes; try again, or allow longer (idleTimeoutMs; HF_HUB_DOWNLOAD_TIMEOUT in seconds in the terminal)`, true)),
        this.ms,
      );
    }
  }
  end(e?: WebvitError): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
    if (e) {
      this.stop(e);
      this.controller.abort(e);
    }
  }
}

export interface Opened {
  response: Response;
  meta: HubFile;
}

/**
 * One request for a file: `range` bytes from its start already held (0: all of it). Redirects are
 * followed (by hand with manualRedirects). Resolves to the answer with a body to read, or to
 * undefined for a file that does not exist when `optional`.
 */
export async function openHubFile(id: string, revision: string, file: string, o: HubOptions, watch: IdleWatch, opts: { range?: number; optional?: boolean; method?: 'GET' | 'HEAD'; location?: string } = {}): Promise<Opened | undefined> {
  const hubUrl = hubOf(o);
  const hubOrigin = originOf(hubUrl);
  const fetchImpl = o.fetch ?? globalThis.fetch;
  const url = resolveUrl(hubUrl, id, revision, file);
  const meta: HubFile = { id, revision, file, url, location: opts.location ?? url };
  let at = meta.location;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = {};
    if (o.token && originOf(at) === hubOrigin) headers.authorization = `Bearer ${o.token}`;
    if (opts.range) headers.range = `bytes=${opts.range}-`;
    let response: Response;
    const pending = Promise.resolve().then(() => fetchImpl(at, { method: opts.method ?? 'GET', headers, signal: watch.signal, redirect: o.manualRedirects ? 'manual' : 'follow' }));
    try {
      response = await watch.race(pending);
    } catch (e) {
      pending.then((r) => r?.body?.cancel(), () => undefined);
      if (e instanceof WebvitError) throw e;
      throw networkError(`could not reach ${clip(originOf(at) ?? at, 200)} for ${fileName(id, revision, file)}: ${clip((e as Error)?.message ?? String(e))}${(e as Error)?.cause ? ` (${clip(String(((e as Error).cause as Error)?.message ?? (e as Error).cause))})` : ''} (offline, a wrong hubUrl, or in a page a server that does not allow this origin: CORS)`, true, e);
    }
    watch.tick(0);
    const h = response.headers;
    meta.commit ??= h.get('x-repo-commit') ?? undefined;
    meta.etag ??= normalizeEtag(h.get('x-linked-etag'));
    meta.size ??= sizeOf(h.get('x-linked-size'));
    if (o.manualRedirects && response.status >= 300 && response.status < 400 && h.get('location')) {
      response.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) throw networkError(`${fileName(id, revision, file)}: more than ${MAX_REDIRECTS} redirects`, false);
      at = new URL(h.get('location')!, at).href;
      meta.location = at;
      continue;
    }
    // A resume past the end: the caller says what it means (a file shorter than stated).
    if (response.status === 416 && opts.range) return { response, meta };
    if (!response.ok) {
      const body = opts.method === 'HEAD' ? '' : await watch.race(response.text()).catch(() => '');
      const e = hubFailure(response.status, h, body, { id, revision, file, hubUrl, token: o.token });
      if (opts.optional && e.code === 'NOT_FOUND' && (h.get('x-error-code') === 'EntryNotFound' || (response.status === 404 && !h.get('x-error-code')))) return undefined;
      throw e;
    }
    meta.etag ??= normalizeEtag(h.get('etag'));
    const encoded = (h.get('content-encoding') ?? 'identity') !== 'identity';
    if (response.status === 200 && !encoded) meta.size ??= sizeOf(h.get('content-length'));
    if (response.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.get('content-range') ?? '');
      if (m && m[3] !== '*') meta.size ??= Number(m[3]);
    }
    return { response, meta };
  }
}

/** Where a download's bytes go: memory in the page, a `.incomplete` file in Node. */
export interface Sink {
  /** Bytes held from an earlier, broken attempt (resumed with Range). */
  readonly have: number;
  write(chunk: Uint8Array): Promise<void> | void;
  /** The server ignored Range (200 with the whole body): start over. */
  restart(): Promise<void> | void;
  /** The file's whole size, once known and before its bytes (a memory sink allocates it once). */
  expect?(total: number): void;
}

/**
 * Downloads a file into `sink`, resuming after a broken connection and retrying 429/5xx. Checks
 * the size the Hub stated. Returns the file's metadata (the hash is for the caller to check).
 */
export async function downloadHubFile(id: string, revision: string, file: string, sink: Sink, o: HubOptions, opts: { location?: string; expectedSize?: number; onProgress?: (done: number, total: number | undefined) => void } = {}): Promise<HubFile> {
  const retries = o.retries ?? DEFAULT_RETRIES;
  const backoff = o.backoffMs ?? ((n: number) => Math.min(8000, 500 * 2 ** n));
  const what = fileName(id, revision, file);
  for (let attempt = 0; ; attempt++) {
    const watch = new IdleWatch(what, o.idleTimeoutMs ?? DEFAULT_HUB_IDLE_MS, o.signal);
    try {
      const expected = opts.expectedSize;
      if (expected !== undefined && sink.have === expected && sink.have > 0) {
        // A whole file from an earlier attempt: nothing to fetch (a Range from its end would be 416).
        return { id, revision, file, url: resolveUrl(hubOf(o), id, revision, file), location: opts.location ?? '', size: expected };
      }
      if (expected !== undefined && sink.have > expected) await sink.restart();
      const start = sink.have;
      const { response, meta } = (await openHubFile(id, revision, file, o, watch, { range: start, location: opts.location }))!;
      if (response.status === 416) {
        response.body?.cancel().catch(() => undefined);
        const e = networkError(`download of ${what} ends at ${start} bytes, and the Hub stated ${expected ?? 'more'}: the server's file is not the one the Hub describes (deleted); try again later`, false);
        (e as { discard?: boolean }).discard = true;
        throw e;
      }
      if (start > 0 && response.status !== 206) await sink.restart();
      else if (start > 0) {
        const m = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== start) {
          response.body?.cancel().catch(() => undefined);
          throw networkError(`${what}: the server answered a resume from byte ${start} with Content-Range "${clip(response.headers.get('content-range') ?? '', 80)}"`, false);
        }
      }
      const total = expected ?? meta.size;
      if (total !== undefined) sink.expect?.(total);
      let done = sink.have;
      opts.onProgress?.(done, total);
      if (response.body) {
        const reader = bodyReader(response.body);
        try {
          for (;;) {
            let r: ReadableStreamReadResult<Uint8Array>;
            try {
              r = await watch.race(reader.read());
            } catch (e) {
              if (e instanceof WebvitError) throw e;
              throw networkError(`download of ${what} broke off after ${done}${total !== undefined ? ` of ${total}` : ''} bytes: ${clip((e as Error)?.message ?? String(e))}`, true, e);
            }
            if (r.done) break;
            done += r.value.byteLength;
            if (total !== undefined && done > total) throw networkError(`download of ${what} is longer than the ${total} bytes the server stated`, true);
            await sink.write(r.value);
            watch.tick(done);
            opts.onProgress?.(done, total);
          }
        } catch (e) {
          reader.cancel().catch(() => undefined);
          throw e;
        }
      } else {
        const b = new Uint8Array(await watch.race(response.arrayBuffer()));
        await sink.write(b);
        done += b.byteLength;
      }
      if (total !== undefined && done !== total) throw networkError(`download of ${what} is truncated: ${done} bytes received, the server stated ${total}`, true);
      return { ...meta, size: total ?? done };
    } catch (e) {
      if (!retryable(e) || attempt >= retries) {
        if (retryable(e) && retries > 0) (e as Error).message += ` (tried ${attempt + 1} times)`;
        throw e;
      }
      await new Promise((r) => setTimeout(r, backoff(attempt)));
      if (o.signal?.aborted) throw new WebvitError('ABORTED', `stopped by the caller's signal while downloading ${what}`, { cause: o.signal.reason });
    } finally {
      watch.end();
    }
  }
}

/** Bytes each read of a download asks for (a BYOB reader's one buffer). */
const READ_BYTES = 1 << 20;

/**
 * A body's reader that reuses one buffer (a BYOB reader, where the stream is a byte stream: fetch's
 * is in browsers), so that a 330 MB download does not leave 330 MB of chunks for the garbage
 * collector; else the default reader. Each chunk is valid until the next read: a Sink copies what
 * it keeps (every Sink's write is awaited before the next read).
 */
function bodyReader(body: ReadableStream<Uint8Array>): { read(): Promise<ReadableStreamReadResult<Uint8Array>>; cancel(): Promise<void> } {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    return body.getReader();
  }
  let buffer: ArrayBuffer = new ArrayBuffer(READ_BYTES);
  return {
    async read() {
      const r = await byob.read(new Uint8Array(buffer, 0, READ_BYTES));
      if (r.value) buffer = r.value.buffer as ArrayBuffer;
      return r.done ? { done: true, value: undefined } : { done: false, value: r.value! };
    },
    cancel: () => byob.cancel(),
  };
}

/** Metadata of a file without its body (HEAD), or undefined when it does not exist and is optional. */
export async function hubFileInfo(id: string, revision: string, file: string, o: HubOptions, optional = false): Promise<HubFile | undefined> {
  const retries = o.retries ?? DEFAULT_RETRIES;
  const backoff = o.backoffMs ?? ((n: number) => Math.min(8000, 500 * 2 ** n));
  for (let attempt = 0; ; attempt++) {
    const watch = new IdleWatch(fileName(id, revision, file), o.idleTimeoutMs ?? DEFAULT_HUB_IDLE_MS, o.signal);
    try {
      const r = await openHubFile(id, revision, file, o, watch, { method: 'HEAD', optional });
      r?.response.body?.cancel().catch(() => undefined);
      return r?.meta;
    } catch (e) {
      if (!retryable(e) || attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, backoff(attempt)));
    } finally {
      watch.end();
    }
  }
}
