import { modelSourceKind } from '../hub/source.js';
import { clip, WebvitError } from '../errors.js';
import { absoluteUrl, describeSource, why } from './sources.js';
import type { ModelSource, WebProgress } from './types.js';

/** Name of the Cache Storage cache webvit keeps downloaded weight files in. */
export const DEFAULT_CACHE = 'webvit-models';

/**
 * How large a body may grow before it is refused, so that an endless or decompression-bomb
 * response fails early instead of filling the tab's memory. A weight file (`weights`) is held to
 * the size its safetensors header states (8 + header length + the largest data_offsets end), read
 * as the first bytes arrive; before that, to its 8-byte length field and that header (≤ 100 MB,
 * the format's limit). Anything else, `max` bytes.
 */
export interface BodyCap {
  max: number;
  weights?: boolean;
}

/** The format's header limit (huggingface/safetensors MAX_HEADER_SIZE, src/model/safetensors.ts). */
const MAX_HEADER = 100_000_000;
const WEIGHTS_CAP: BodyCap = { max: Infinity, weights: true };
/**
 * An image by URL: 256 MiB, the RGBA size of 8192 × 8192 pixels (WebGPU's default texture limit, a
 * side no larger image can be uploaded at), which no compressed file of an image that fits exceeds.
 */
export const IMAGE_CAP: BodyCap = { max: 2 ** 28 };

/** How long a download may receive nothing before it fails (idleTimeoutMs). */
export const DEFAULT_IDLE_MS = 30_000;

export interface FetchModelOptions {
  onProgress?: (e: WebProgress) => void;
  /**
   * Subresource-Integrity-style hash(es) of the file, e.g. "sha256-<base64>" (sha384, sha512 too;
   * several separated by spaces: any one matching is enough). Checked on the download and on the
   * cached copy; a cached copy that does not match is downloaded again.
   */
  integrity?: string;
  /** Cache Storage cache name, or false to neither read nor write the cache. Default DEFAULT_CACHE. */
  cache?: string | false;
  /** fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Cache Storage to use (default globalThis.caches, absent outside secure contexts and in Node). */
  caches?: CacheStorage;
  /** Stops the download: an ABORTED WebvitError, the fetch cancelled, nothing cached. */
  signal?: AbortSignal;
  /**
   * @internal How messages and `info.source` name a model given as bytes (default "the model
   * bytes"): a Response that worker mode read on the page keeps its URL's name in the worker.
   */
  modelName?: string;
  /** A download that receives no bytes for this long fails with NETWORK (default DEFAULT_IDLE_MS; 0: never). */
  idleTimeoutMs?: number;
}

export interface FetchedModel<T> {
  value: T;
  bytes: Uint8Array;
  /** The URL (absolute), or "ArrayBuffer" / "Response" — how messages name the file. */
  source: string;
  fromCache: boolean;
  /** The file is in Cache Storage now (read from it, or stored after the download). */
  inCache: boolean;
}

/**
 * Bytes webvit itself read and gives up (Node's createImageClassifier for a path or a Hub id): taken
 * as they are, not copied, as no caller holds them.
 */
export const handedOver = new WeakSet<object>();

/**
 * The bytes of a model, checked by `parse` (readWeights: is it a webvit weight file?) and by the
 * integrity hash, from Cache Storage when an earlier visit stored them, else downloaded with
 * progress. Only a file that passed both checks is stored, so a broken download or an HTML error
 * page served with status 200 is never kept; a cached copy that fails them is dropped and fetched
 * again. Caching is by absolute URL: give a new URL (or a new `integrity`) for a new model version.
 */
export async function fetchModel<T>(model: ModelSource, options: FetchModelOptions, parse: (bytes: Uint8Array, source: string) => T | Promise<T>): Promise<FetchedModel<T>> {
  checkAborted(options.signal, 'before the download');
  const kind = modelSourceKind(model);
  if (kind == 'bytes') {
    // A copy (the file's size again, for as long as the classifier lives): the caller may reuse its
    // buffer, and a rebuild after a device loss reads these bytes.
    const m = model as ArrayBuffer | ArrayBufferView;
    const bytes = handedOver.has(m) ? (m as Uint8Array) : (m instanceof ArrayBuffer ? new Uint8Array(m) : new Uint8Array(m.buffer, m.byteOffset, m.byteLength)).slice();
    const source = typeof options.modelName == 'string' ? clip(options.modelName) : 'the model bytes';
    await checkIntegrity(bytes, options.integrity, source);
    return { value: await parseChecked(parse, bytes, source), bytes, source, fromCache: false, inCache: false };
  }
  if (kind == 'response') {
    model = model as Response;
    const source = clip(model.url) || 'the model Response';
    if (!model.ok) throw new WebvitError('NETWORK', `${source}: the Response has HTTP status ${model.status}${model.statusText ? ` ${clip(model.statusText)}` : ''}, not the model file`);
    const bytes = await readBody(model, source, options, WEIGHTS_CAP);
    await checkIntegrity(bytes, options.integrity, source);
    return { value: await parseChecked(parse, bytes, source), bytes, source, fromCache: false, inCache: false };
  }
  if (!kind) {
    throw new WebvitError('BAD_ARGUMENT', `model must be a URL (string or URL), an ArrayBuffer, a typed array or a Response, got ${describeSource(model)}`);
  }
  const url = absoluteUrl(model as string | URL, 'model URL', 'BAD_ARGUMENT');
  // Chromium takes URLs up to 2 MiB; its Cache Storage matched a longer one to another model's entry.
  if (url.startsWith('file:')) throw new WebvitError('BAD_ARGUMENT', `${clip(url)}: a page cannot fetch file: URLs; serve the model over http(s) (npm run web serves this repository), or pass its bytes`);
  if (url.length > 2 ** 21) throw new WebvitError('BAD_ARGUMENT', `the model URL is ${url.length} characters, longer than browsers take (2 MiB)`);
  // How messages (and info.source) name it: a URL with a 2 MB query makes no 2 MB message.
  const source = clip(url);
  const cache = await openCache(options);
  if (cache) {
    const hit = await Promise.resolve()
      .then(() => cache.match(url))
      .catch(() => undefined);
    if (hit) {
      try {
        const bytes = await readBody(hit, `${source} (cached)`, options, WEIGHTS_CAP, true);
        await checkIntegrity(bytes, options.integrity, `${source} (cached)`);
        return { value: await parseChecked(parse, bytes, source), bytes, source, fromCache: true, inCache: true };
      } catch (e) {
        if ((e as WebvitError).code === 'ABORTED') throw e;
        // A stale or damaged copy (older model, other integrity, quota-truncated): fetch it again.
        await Promise.resolve()
          .then(() => cache.delete(url))
          .catch(() => undefined);
      }
    }
  }
  const bytes = await download(url, options, 'could not download the model from', ': no file at that URL; check the path and that the .safetensors file is deployed with the page', source, WEIGHTS_CAP);
  await checkIntegrity(bytes, options.integrity, source);
  const value = await parseChecked(parse, bytes, source);
  let inCache = false;
  // Aborted once the bytes were in: still not cached (the caller gave the file up).
  checkAborted(options.signal, `after downloading ${source}`);
  if (cache) {
    // A full cache (quota) only costs the next visit a download.
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) };
    inCache = await Promise.resolve()
      .then(() => cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers })))
      .then(
      () => true,
      () => false,
    );
  }
  return { value, bytes, source, fromCache: false, inCache };
}

/**
 * The whole body at `url`, fetched under the caller's signal and the idle timeout: a model, or an
 * image given by URL (one that stalled would hold up every later call). Messages start with
 * `what` and the URL (clipped); `hint404` follows an HTTP 404; a stall names `label`; a body
 * beyond `cap` is refused.
 */
export async function download(url: string, options: FetchModelOptions, what: string, hint404: string, label: string, cap: BodyCap): Promise<Uint8Array> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const shown = clip(url);
  if (typeof fetchImpl !== 'function') throw new WebvitError('NETWORK', `${what} ${shown}: this environment has no fetch(); pass the bytes instead`);
  const w = watch(label, options);
  try {
    let response: Response;
    // A fetch of the app's that throws at once is a failed download too, as one that rejects.
    const pending = Promise.resolve().then(() => fetchImpl(url, { signal: w.signal }));
    try {
      response = await w.race(pending);
      if (!isResponse(response)) throw new TypeError(`fetch() gave ${describeSource(response)}, not a Response`);
    } catch (e) {
      // A fetch that ignores the signal may still answer: its body is not read.
      pending.then((r) => r?.body?.cancel(), () => undefined);
      if (e instanceof WebvitError) throw e;
      throw new WebvitError('NETWORK', `${what} ${shown}: ${clip(why(e))} (offline, a wrong host, or the server does not allow this origin: CORS)`, { cause: e });
    }
    if (!response.ok) {
      response.body?.cancel().catch(() => undefined);
      throw new WebvitError('NETWORK', `${what} ${shown}: HTTP ${response.status}${response.statusText ? ` ${clip(response.statusText)}` : ''}${response.status === 404 ? hint404 : ''}`);
    }
    return await readBody(response, shown, options, cap, false, w);
  } finally {
    w.end();
  }
}

/** Removes a cached model (all of them with no URL). Resolves to whether anything was removed. */
export async function clearModelCache(url?: string | URL, cacheName = DEFAULT_CACHE, storage: CacheStorage | undefined = globalThis.caches): Promise<boolean> {
  if (url !== undefined && typeof url !== 'string' && !(url instanceof URL)) throw new WebvitError('BAD_ARGUMENT', `clearModelCache: url must be the model's URL (a string or URL) or undefined (the whole cache), got ${describeSource(url)}`);
  if (typeof cacheName !== 'string') throw new WebvitError('BAD_ARGUMENT', `clearModelCache: cacheName must be a string, got ${describeSource(cacheName)}`);
  if (!storage) return false;
  if (url === undefined) return storage.delete(cacheName);
  const cache = await storage.open(cacheName);
  return cache.delete(absoluteUrl(url, 'model URL', 'BAD_ARGUMENT'));
}

async function openCache(options: FetchModelOptions): Promise<Cache | undefined> {
  if (options.cache === false) return undefined;
  const storage = options.caches ?? globalThis.caches;
  if (!storage) return undefined;
  // Cache Storage can refuse (private browsing, storage disabled), or an app's own `caches` fail
  // or be no cache: then every visit downloads.
  const name = options.cache ?? DEFAULT_CACHE;
  const c = await Promise.resolve()
    .then(() => storage.open(name))
    .catch(() => undefined);
  return typeof c?.match == 'function' && typeof c.put == 'function' ? c : undefined;
}

const isResponse = (x: unknown): x is Response => typeof Response !== 'undefined' && x instanceof Response;

/** A WebvitError as the reason is the error itself (dispose() stops an image's download with DISPOSED). */
export const aborted = (signal: AbortSignal, when: string) =>
  signal.reason instanceof WebvitError ? signal.reason : new WebvitError('ABORTED', `createImageClassifier was aborted by its signal ${when}`, { cause: signal.reason });

/** Throws the ABORTED error if `signal` has fired. */
export function checkAborted(signal: AbortSignal | undefined, when: string): void {
  if (signal?.aborted) throw aborted(signal, when);
}

interface Watch {
  /** For fetch: aborted with the error that stopped the download. */
  signal: AbortSignal;
  /** `p`, unless the caller's signal or the idle timeout stops the download first. */
  race<T>(p: Promise<T>): Promise<T>;
  /** Bytes received so far (restarts the idle clock), and the total when known. */
  got(done?: number, total?: number): void;
  end(): void;
}

/**
 * The caller's signal and the idle timeout over one download: no bytes for `idleTimeoutMs` (from
 * the request on, so a server that never answers counts) is a NETWORK error naming the URL and the
 * bytes received; the signal an ABORTED one. Either aborts the fetch, so the connection closes.
 */
function watch(url: string, { signal, idleTimeoutMs: ms = DEFAULT_IDLE_MS }: FetchModelOptions): Watch {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let received = 0;
  let of = '';
  let stop!: (e: WebvitError) => void;
  const stopped = new Promise<never>((_, reject) => (stop = reject));
  stopped.catch(() => undefined);
  const end = (e?: WebvitError) => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (e) {
      stop(e);
      controller.abort(e);
    }
  };
  const onAbort = () => end(aborted(signal!, `while downloading ${url} (${received} ${of}bytes received)`));
  const got = (done = 0, total?: number) => {
    received = done;
    if (total !== undefined) of = `of ${total} `;
    clearTimeout(timer);
    if (ms > 0) timer = setTimeout(() => end(new WebvitError('NETWORK', `download of ${url} stalled: no data for ${ms} ms after ${received} ${of}bytes; try again, or allow longer with idleTimeoutMs`)), ms);
  };
  signal?.addEventListener('abort', onAbort);
  got();
  if (signal?.aborted) onAbort();
  return { signal: controller.signal, race: (p) => Promise.race([p, stopped]), got, end: () => end() };
}

/**
 * The whole body, read as a stream with progress. A Content-Length the body does not reach (or
 * exceeds) is a truncated download; it is only trusted when the body is not content-encoded
 * (compressed bodies are longer once decoded).
 */
async function readBody(response: Response, source: string, { onProgress, signal, idleTimeoutMs }: FetchModelOptions, cap: BodyCap, fromCache = false, w = watch(source, { signal, idleTimeoutMs: fromCache ? 0 : idleTimeoutMs })): Promise<Uint8Array> {
  // A cached copy is watched for the signal only. The watch ends with the body (a download's too).
  return readWatched(response, source, onProgress, fromCache, w, cap).finally(w.end);
}

async function readWatched(response: Response, source: string, onProgress: ((e: WebProgress) => void) | undefined, fromCache: boolean, w: Watch, cap: BodyCap): Promise<Uint8Array> {
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const total = !encoded && Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
  const report = (done: number) => {
    w.got(done, total);
    onProgress?.({ stage: 'download', done, total, fromCache });
  };
  if (!response.body) {
    const bytes = new Uint8Array(await w.race(response.arrayBuffer()));
    report(bytes.byteLength);
    checkLength(bytes.byteLength, total, source);
    return bytes;
  }
  const reader = response.body.getReader();
  let chunks: Uint8Array[] = [];
  let done = 0;
  // The body's limit, and how many bytes the weight file's next size field needs (see BodyCap).
  let max = cap.max;
  let want = cap.weights ? 8 : Infinity;
  const code = cap.weights ? 'BAD_WEIGHTS' : 'BAD_INPUT';
  report(0);
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await w.race(reader.read());
      } catch (e) {
        if (e instanceof WebvitError || e instanceof RangeError) throw e;
        throw new WebvitError('NETWORK', `download of ${source} broke off after ${done} ${total !== undefined ? `of ${total} ` : ''}bytes: ${clip(why(e))}; try again`, { cause: e });
      }
      if (r.done) break;
      chunks.push(r.value);
      done += r.value.byteLength;
      if (total !== undefined && done > total) checkLength(done, total, source);
      if (done >= want) {
        chunks = [join(chunks, done)];
        const size = statedSize(chunks[0]);
        // Not a safetensors file (a bad length field, a header that is not JSON): the bytes so
        // far are enough for the parse to say so.
        if (size === undefined) {
          reader.cancel().catch(() => undefined);
          return chunks[0];
        }
        want = size < 0 ? -size : Infinity;
        if (size > 0) max = Math.min(max, size);
      }
      if (done > max) {
        throw new WebvitError(code, `${source} is larger than ${cap.weights ? 'the file states' : 'an image may be'} (${max} bytes): ${done} received`);
      }
      report(done);
    }
    checkLength(done, total, source);
    return join(chunks, done);
  } catch (e) {
    reader.cancel().catch(() => undefined);
    // The tab's memory ran out (a body too large for it): not a network failure to retry.
    if (e instanceof RangeError) throw new WebvitError(code, `${source}: out of memory after ${done} bytes: too large for this browser`, { cause: e });
    throw e;
  }
}

function join(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/**
 * A safetensors file's size as its first bytes state it: 8 + header length + the largest
 * data_offsets end; −n when `head` is too short to tell (n bytes needed); undefined when it is
 * not a safetensors file (the parse says why).
 */
export function statedSize(head: Uint8Array): number | undefined {
  if (head.byteLength < 8) return -8;
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER) return undefined;
  if (head.byteLength < 8 + n) return -(8 + n);
  let end = 0;
  try {
    for (const t of Object.values(JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + n))))) end = Math.max(end, +(t as { data_offsets?: number[] })?.data_offsets?.[1]! || 0);
  } catch {
    return undefined;
  }
  return 8 + n + end;
}

function checkLength(got: number, total: number | undefined, source: string): void {
  if (total === undefined || got === total) return;
  const what = got < total ? 'truncated' : 'longer than announced';
  throw new WebvitError('NETWORK', `download of ${source} is ${what}: ${got} bytes received, the server announced ${total} (Content-Length); try again`);
}

/** The hashes of an integrity value (checked at create, so a malformed one fails before the download). */
export function parseIntegrity(integrity: unknown): RegExpExecArray[] {
  const wanted = typeof integrity === 'string' ? integrity.trim().split(/\s+/).filter(Boolean) : [];
  const parsed = wanted.map((w) => /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(w));
  if (parsed.length === 0 || parsed.some((m) => !m)) {
    throw new WebvitError('BAD_ARGUMENT', `integrity "${clip(String(integrity))}" is not "sha256-<base64>" (or sha384-/sha512-), as in a <script integrity> attribute; make one with \`openssl dgst -sha256 -binary FILE | openssl base64 -A\``);
  }
  return parsed as RegExpExecArray[];
}

const DIGESTS: Record<string, string> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

/** Checks `bytes` against SRI-style hashes ("sha256-<base64>", several separated by spaces: any one). */
export async function checkIntegrity(bytes: Uint8Array, integrity: string | undefined, source: string): Promise<void> {
  if (integrity === undefined) return;
  const parsed = parseIntegrity(integrity);
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new WebvitError('BAD_ARGUMENT', `cannot check integrity of ${source}: crypto.subtle is missing (it needs a secure context: https or localhost)`);
  const got: string[] = [];
  for (const m of parsed) {
    const b64 = btoa(String.fromCharCode(...new Uint8Array(await subtle.digest(DIGESTS[m![1]], bytes as Uint8Array<ArrayBuffer>))));
    if (b64 === m![2]) return;
    got.push(`${m![1]}-${b64}`);
  }
  throw new WebvitError('BAD_WEIGHTS', `${source} does not match its integrity hash: expected ${clip(parsed.map((m) => m[0]).join(' or '))}, got ${got.join(' / ')} (a different or damaged file; update the hash if the model changed on purpose)`);
}

/** `parse`, with a hint when the bytes are plainly not a weight file (an HTML page, JSON, empty). */
async function parseChecked<T>(parse: (bytes: Uint8Array, source: string) => T | Promise<T>, bytes: Uint8Array, source: string): Promise<T> {
  if (/^\s*<(!doctype html|html|head|body)/i.test(new TextDecoder().decode(bytes.subarray(0, 64)))) {
    throw new WebvitError('BAD_WEIGHTS', `${source} is an HTML page, not a webvit weight file: the server answered with a page (a wrong path that a single-page-app server answers with index.html?); point model at the .safetensors file`);
  }
  if (bytes.byteLength === 0) throw new WebvitError('BAD_WEIGHTS', `${source} is empty (0 bytes), not a webvit weight file`);
  try {
    return await parse(bytes, source);
  } catch (e) {
    if (e instanceof WebvitError && (e.code === 'BAD_WEIGHTS' || e.code === 'BAD_CONFIG') && !/webvit convert/.test(e.message)) {
      throw new WebvitError(e.code, `${e.message} (is it a webvit weight file? Make one from a checkpoint with \`webvit convert\`)`, { cause: e });
    }
    throw e;
  }
}
