import { clip, mustBe, WebvitError } from '../errors.js';
import { absoluteUrl } from './sources.js';
import type { ClassifierOptions } from './types.js';
import { checkArchitecture } from '../hub/architecture.js';
import { downloadHubFile, IdleWatch, openHubFile, DEFAULT_HUB_IDLE_MS, fileName, type HubOptions, type Sink } from '../hub/client.js';
import { DEFAULT_HUB_URL, isCommit, looksLikeModelId, parseModelId, resolveUrl, revisionProblem } from '../hub/id.js';
import { noSafetensors, PICKLED_WEIGHTS, shardNames } from '../hub/repo_files.js';
import { headSize, impliedSize, StreamedConversion, streamedCheckpoint, streamFile, type StreamFile } from '../model/convert/stream.js';
import { encodeWeights } from '../model/convert/core.js';
import { loadWeights, readWeights, type LoadedWeights } from '../model/weights.js';
import type { WebProgress } from './types.js';
import { DEFAULT_CACHE, type FetchedModel } from './weights.js';

/**
 * A model by Hub id in the page or its worker (docs/model-ids.md): config.json,
 * preprocessor_config.json and model.safetensors (or the shard index and its shards) fetched
 * through the Hub's resolve URLs, converted here, and the converted file kept in Cache Storage under
 * the id, the commit, the dtype and the weight format's version. A later visit asks the Hub which
 * commit the revision is (config.json, a few hundred bytes) and finds the converted file: nothing
 * else is downloaded or converted. Offline (the request fails), the commit last seen for the
 * revision is used.
 *
 * This module is in the on-demand chunk (src/on_demand.ts): a page that loads models by URL
 * downloads the converter only if it uses explain(), worker mode or tuning (that file says why).
 */

export interface HubLoadOptions {
  revision?: string;
  hubUrl?: string;
  token?: string;
  dtype?: 'f32' | 'f16' | 'int8' | 'q4';
  cache?: string | false;
  caches?: CacheStorage;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  idleTimeoutMs?: number;
  onProgress?: (e: WebProgress) => void;
}

export interface HubFetched {
  value: LoadedWeights;
  bytes: Uint8Array;
  source: string;
  fromCache: boolean;
  /** The converted file is in Cache Storage now (read from it, or stored). */
  inCache: boolean;
  commit: string;
}

/** A model id (`org/name[@rev]`, `hf:…`) given as the model, or undefined for a URL, bytes or a Response. */
export function hubModelOf(o: Pick<ClassifierOptions, 'model' | 'revision'>): { id: string; revision: string } | undefined {
  const m = o.model;
  if (typeof m !== 'string' || !looksLikeModelId(m)) return undefined;
  const p = parseModelId(m, 'model');
  if (p.revision !== undefined && o.revision !== undefined && p.revision !== o.revision) throw bad(`model "${clip(m, 120)}" names revision ${clip(p.revision, 80)} and options.revision says ${clip(String(o.revision), 80)}; give one`);
  return { id: p.id, revision: p.revision ?? o.revision ?? 'main' };
}

/** hubModelOf, with every Hub option checked (BAD_ARGUMENT naming it). */
export function checkedHubModel(o: ClassifierOptions): { id: string; revision: string } {
  const hub = hubModelOf(o);
  for (const k of ['revision', 'hubUrl', 'token', 'dtype'] as const) {
    if (o[k] !== undefined && !hub) throw bad(`${k} applies to a model given by Hugging Face Hub id (e.g. model: 'google/vit-base-patch16-224'); this model is ${typeof o.model === 'string' ? `the URL ${JSON.stringify(clip(o.model, 120))}` : 'not an id'}`);
  }
  if (o.revision !== undefined) {
    if (typeof o.revision !== 'string') throw mustBe('revision', 'a branch, tag or commit name (a string)', o.revision);
    const p = revisionProblem(o.revision);
    if (p) throw bad(`revision: ${p}`);
  }
  if (o.token !== undefined && (typeof o.token !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(o.token))) throw mustBe('token', 'an access token (printable characters, no spaces)', typeof o.token === 'string' ? '(a string that is not)' : o.token);
  if (o.dtype !== undefined && !['f32', 'f16', 'int8', 'q4'].includes(o.dtype)) throw mustBe('dtype', "'f32', 'f16', 'int8' or 'q4'", o.dtype);
  if (o.hubUrl !== undefined) {
    if (typeof o.hubUrl !== 'string') throw mustBe('hubUrl', "the Hub's address (a string)", o.hubUrl);
    absoluteUrl(o.hubUrl, 'hubUrl', 'BAD_ARGUMENT');
  }
  if (hub && o.integrity !== undefined) throw bad('integrity applies to a webvit file given by URL; a model id is checked against the hashes the Hub states');
  if (!hub) throw bad(`model ${typeof o.model === 'string' ? JSON.stringify(clip(o.model, 120)) : ''} is not a Hugging Face Hub id`);
  return hub;
}


const bad = (message: string) => new WebvitError('BAD_ARGUMENT', message);

const FORMAT = '1';

/**
 * The page's sink for the small files (preprocessor_config.json, the shard index): one buffer of
 * the stated size, filled as the bytes arrive; chunks only when no size was stated. Weight files go
 * through a WeightSink into the streamed conversion instead.
 */
class MemorySink implements Sink {
  private chunks: Uint8Array[] = [];
  private whole: Uint8Array | undefined;
  have = 0;
  expect(total: number): void {
    if (this.have === 0 && !this.whole) this.whole = new Uint8Array(total);
  }
  write(c: Uint8Array): void {
    if (this.whole && this.have + c.byteLength <= this.whole.byteLength) this.whole.set(c, this.have);
    else this.chunks.push(c.slice());
    this.have += c.byteLength;
  }
  restart(): void {
    this.chunks = [];
    this.whole = undefined;
    this.have = 0;
  }
  bytes(): Uint8Array {
    if (this.whole && this.chunks.length === 0) return this.whole.subarray(0, this.have);
    const out = new Uint8Array(this.have);
    let at = 0;
    for (const c of this.whole ? [this.whole.subarray(0, this.have - this.chunks.reduce((a, c) => a + c.byteLength, 0)), ...this.chunks] : this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    this.chunks = [];
    this.whole = out;
    return out;
  }
}

/** Thrown by a WeightSink that wanted a file's header only (a shard's, before the plan): the download stops there. */
const HEADER_READ = new Error('header read');

/**
 * The page's sink for a weight file (model.safetensors or a shard), for a streamed conversion
 * (src/model/convert/stream.ts): it keeps the file's first bytes until its header is whole, hands
 * the header to `onHead` (which plans the conversion, or ends the download with HEADER_READ), then
 * passes every byte on to `feed` as it arrives; nothing else is kept. `start`: the header was read
 * before, the download resumes (Range) where the data begins.
 */
class WeightSink implements Sink {
  have: number;
  head: StreamFile | undefined;
  private size: number | undefined;
  private first: Uint8Array[] = [];
  constructor(
    private readonly file: string,
    private readonly onHead: (h: StreamFile) => void,
    private readonly feed: (at: number, chunk: Uint8Array) => void,
    start?: StreamFile,
  ) {
    this.head = start;
    this.have = start ? start.dataStart : 0;
  }
  expect(total: number): void {
    this.size = total;
  }
  write(c: Uint8Array): void {
    const at = this.have;
    this.have += c.byteLength;
    if (this.head) return this.feed(at, c);
    this.first.push(c.slice());
    const got = concatBytes(this.first);
    this.first = [got];
    const need = headSize(got, this.size ?? Number.MAX_SAFE_INTEGER, this.file);
    if (need === 0 || got.byteLength < need) return;
    this.first = [];
    this.head = streamFile(this.file, got.subarray(0, need), this.size ?? impliedSize(got, this.file));
    this.onHead(this.head);
    this.feed(0, got);
  }
  restart(): void {
    // From byte 0 again: bytes already used are skipped by the conversion (stream.ts feed).
    this.have = 0;
    this.first = [];
  }
}

const concatBytes = (parts: Uint8Array[]): Uint8Array => {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

async function openCache(o: HubLoadOptions, name: string): Promise<Cache | undefined> {
  if (o.cache === false) return undefined;
  const storage = o.caches ?? globalThis.caches;
  if (!storage) return undefined;
  return Promise.resolve()
    .then(() => storage.open(name))
    .catch(() => undefined);
}

async function cached(cache: Cache | undefined, key: string): Promise<Uint8Array | undefined> {
  if (!cache) return undefined;
  const hit = await Promise.resolve()
    .then(() => cache.match(key))
    .catch(() => undefined);
  if (!hit) return undefined;
  return new Uint8Array(await hit.arrayBuffer().catch(() => new ArrayBuffer(0)));
}

/**
 * A body that hands Cache Storage the file in 4 MiB views of it: a Response made from the array
 * would copy it whole first (the page held the converted file twice while it was stored).
 */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.subarray(at, (at += 4 << 20)));
    },
  });
}

/** Stores a file in Cache Storage; false when it could not (no cache, or over the quota: the next visit converts again). */
async function store(cache: Cache | undefined, key: string, bytes: Uint8Array | string): Promise<boolean> {
  if (!cache) return false;
  return Promise.resolve()
    .then(() => cache.put(key, new Response(typeof bytes === 'string' ? bytes : chunked(bytes), { headers: { 'content-type': 'application/octet-stream' } })))
    .then(
      () => true,
      () => false,
    );
}

/**
 * The engine's loader for a model id (src/web/engine.ts): the weights, and how to read them again
 * after a device loss. A model kept in Cache Storage is read from there then, so the classifier
 * holds no copy of the file for its life.
 */
export async function loadHubModel(options: ClassifierOptions): Promise<FetchedModel<LoadedWeights> & { reload?: () => Promise<LoadedWeights> }> {
  const cacheName = typeof options.cache === 'string' ? options.cache : DEFAULT_CACHE;
  const r = await fetchHubModel(options, cacheName);
  const again = { ...options, onProgress: undefined, signal: undefined };
  const reload = r.inCache ? async () => (await fetchHubModel(again, cacheName)).value : undefined;
  return { value: r.value, bytes: r.inCache ? new Uint8Array(0) : r.bytes, source: r.source, fromCache: r.fromCache, inCache: r.inCache, reload };
}

/** The model of createImageClassifier's options, given by id: checked, fetched, converted, cached. */
export async function fetchHubModel(options: ClassifierOptions, cacheName: string): Promise<HubFetched> {
  const { id, revision } = checkedHubModel(options);
  const { hubUrl: h, token, dtype: d, cache: c, caches, fetch, signal, idleTimeoutMs, onProgress } = options;
  const o: HubLoadOptions = { revision, hubUrl: h === undefined ? undefined : absoluteUrl(h, 'hubUrl', 'BAD_ARGUMENT'), token, dtype: d, cache: c, caches, fetch, signal, idleTimeoutMs, onProgress };
  const hubUrl = (o.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  const dtype = o.dtype ?? 'f32';
  const http: HubOptions = { hubUrl, token: o.token, fetch: o.fetch, signal: o.signal, idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_HUB_IDLE_MS };
  const cache = await openCache(o, cacheName);
  const source = `${id}${revision === 'main' ? '' : `@${revision}`}`;
  const refKey = resolveUrl(hubUrl, id, revision, '.webvit/commit');
  const convertedKey = (commit: string) => resolveUrl(hubUrl, id, commit, `.webvit/${dtype}.format${FORMAT}.safetensors`);

  // Which commit the revision is now: config.json's X-Repo-Commit (the Hub serves it itself, CORS exposes the header).
  let commit: string | undefined = isCommit(revision) ? revision : undefined;
  let configBytes: Uint8Array | undefined;
  let hasConfig = true;
  {
    const watch = new IdleWatch(fileName(id, revision, 'config.json'), http.idleTimeoutMs ?? DEFAULT_HUB_IDLE_MS, o.signal);
    try {
      const r = await openHubFile(id, revision, 'config.json', http, watch, { optional: true });
      if (r) {
        commit = r.meta.commit && isCommit(r.meta.commit) ? r.meta.commit : commit;
        configBytes = new Uint8Array(await watch.race(r.response.arrayBuffer()));
      } else hasConfig = false;
    } catch (e) {
      // Unreachable: the commit last seen for this revision, if its converted file is cached.
      if (!(e instanceof WebvitError && e.code === 'NETWORK') || commit) throw e;
      const seen = new TextDecoder().decode((await cached(cache, refKey)) ?? new Uint8Array());
      if (!isCommit(seen)) throw e;
      commit = seen;
    } finally {
      watch.end();
    }
  }
  if (commit) {
    const bytes = await cached(cache, convertedKey(commit));
    if (bytes?.byteLength) {
      try {
        o.onProgress?.({ stage: 'download', done: bytes.byteLength, total: bytes.byteLength, fromCache: true, detail: source });
        return { value: await loadWeights(bytes, source, true), bytes, source, fromCache: true, inCache: true, commit };
      } catch {
        // A damaged copy: converted again below.
      }
    }
  }
  if (!configBytes && hasConfig && commit) {
    // The commit came from the cache (offline) but its converted file is gone: nothing to do without the network.
    throw new WebvitError('NETWORK', `${source}: the Hub cannot be reached and its converted file is not in Cache Storage; try again online`);
  }
  const pin = commit ?? revision;
  let config: Record<string, unknown> | undefined;
  if (configBytes) {
    try {
      const c = JSON.parse(new TextDecoder().decode(configBytes)) as unknown;
      if (typeof c === 'object' && c !== null && !Array.isArray(c)) config = c as Record<string, unknown>;
    } catch (e) {
      throw new WebvitError('BAD_WEIGHTS', `${fileName(id, revision, 'config.json')} is not valid JSON (${clip((e as Error).message)})`);
    }
    checkArchitecture(id, config);
  }
  /** Downloads `file` into `sink`; false for an optional file the repository does not have. */
  const download = async (file: string, sink: Sink, optional: boolean): Promise<boolean> => {
    try {
      await downloadHubFile(id, pin, file, sink, http, { onProgress: (done, total) => o.onProgress?.({ stage: 'download', done, total, detail: file }) });
    } catch (e) {
      if (optional && e instanceof WebvitError && e.code === 'NOT_FOUND' && /no such file/.test(e.message)) return false;
      throw e;
    }
    return true;
  };
  const get = async (file: string, optional: boolean): Promise<Uint8Array | undefined> => {
    const sink = new MemorySink();
    return (await download(file, sink, optional)) ? sink.bytes() : undefined;
  };
  let preprocessor: Record<string, unknown> | undefined;
  const pBytes = await get('preprocessor_config.json', true);
  if (pBytes) {
    try {
      preprocessor = JSON.parse(new TextDecoder().decode(pBytes)) as Record<string, unknown>;
    } catch (e) {
      throw new WebvitError('BAD_WEIGHTS', `${fileName(id, revision, 'preprocessor_config.json')} is not valid JSON (${clip((e as Error).message)})`);
    }
  }
  // Streamed (src/model/convert/stream.ts): from the weight files' headers the conversion is
  // planned and its output allocated once; each tensor is converted into place as its bytes arrive.
  // The page holds the output file and at most a few source tensors, never the checkpoint whole.
  const base = { config, configSource: `${source} config.json`, preprocessor, preprocessorSource: preprocessor ? `${source} preprocessor_config.json` : undefined };
  let meta: Record<string, string> = {};
  const extra = (p: { layout: string; metadata?: Record<string, string> }) => (meta = { 'webvit.converted_from': p.layout, 'webvit.source': `hf:${id}@${commit ?? revision}`, ...p.metadata });
  let conv: StreamedConversion | undefined;
  const plan = (heads: StreamFile[]) => {
    conv = new StreamedConversion(streamedCheckpoint(source, heads, base), heads, dtype === 'f16' ? 'F16' : 'F32', extra);
  };
  const feed = (file: string) => (at: number, chunk: Uint8Array) => conv!.feed(file, at, chunk);
  const label = (file: string) => `${source} ${file}`;
  if (!(await download('model.safetensors', new WeightSink(label('model.safetensors'), (h) => plan([h]), feed(label('model.safetensors'))), true))) {
    const index = await get('model.safetensors.index.json', true);
    if (!index) {
      // Whether a pickled file is there, by HEAD: its body (hundreds of MB) is never downloaded.
      const pickled: string[] = [];
      for (const p of PICKLED_WEIGHTS) {
        const watch = new IdleWatch(fileName(id, pin, p), http.idleTimeoutMs ?? DEFAULT_HUB_IDLE_MS, o.signal);
        try {
          if (await openHubFile(id, pin, p, http, watch, { method: 'HEAD', optional: true })) pickled.push(p);
        } finally {
          watch.end();
        }
      }
      throw noSafetensors(id, revision, pickled);
    }
    // Every shard's header first (the start of each download, stopped there), so the plan knows
    // every tensor; then each shard's data, resumed (Range) where its header ends.
    const shards = shardNames(new TextDecoder().decode(index), id, revision);
    const heads: StreamFile[] = [];
    for (const shard of shards) {
      const sink = new WeightSink(label(shard), () => {
        throw HEADER_READ;
      }, () => undefined);
      await download(shard, sink, false).catch((e) => {
        if (e !== HEADER_READ) throw e;
      });
      if (!sink.head) throw new WebvitError('BAD_WEIGHTS', `${label(shard)}: ended before its header did: the download is truncated; try again`);
      heads.push(sink.head);
    }
    plan(heads);
    for (let i = 0; i < shards.length; i++) await download(shards[i], new WeightSink(label(shards[i]), () => undefined, feed(label(shards[i])), heads[i]), false);
  }
  if (!conv) throw new WebvitError('BAD_WEIGHTS', `${label('model.safetensors')}: ended before its header did: the download is truncated; try again`);
  o.onProgress?.({ stage: 'convert', done: 0, total: 1, detail: source });
  let bytes = conv.finish();
  conv = undefined;
  // int8 / q4: streamed to F32, then each matmul weight quantised from views of that file.
  if (dtype == 'int8' || dtype == 'q4') bytes = encodeWeights(readWeights(bytes, source, true), dtype, meta);
  // The converted file is this loader's alone: its F32 tensors are read as views of it (no second copy).
  const value = await loadWeights(bytes, source, true);
  o.onProgress?.({ stage: 'convert', done: 1, total: 1, detail: source });
  let inCache = false;
  if (commit) {
    inCache = await store(cache, convertedKey(commit), bytes);
    if (inCache) await store(cache, refKey, commit);
  }
  return { value, bytes, source, fromCache: false, inCache, commit: commit ?? revision };
}
