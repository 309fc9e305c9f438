import { clip, mustBe, WebvitError } from '../errors.js';
import { absoluteUrl } from './sources.js';
import type { ClassifierOptions } from './types.js';
import { checkArchitecture } from '../hub/architecture.js';
import { downloadHubFile, IdleWatch, openHubFile, DEFAULT_HUB_IDLE_MS, fileName, type HubOptions, type Sink } from '../hub/client.js';
import { DEFAULT_HUB_URL, isCommit, looksLikeModelId, parseModelId, resolveUrl, revisionProblem } from '../hub/id.js';
import { noSafetensors, PICKLED_WEIGHTS, shardNames } from '../hub/repo_files.js';
import { convertCheckpoint, encodeWeights, outputDtype, sourceTensors, type Checkpoint, type SourceTensor } from '../model/convert/index.js';
import { parseSafetensors } from '../model/safetensors.js';
import { loadWeights, type LoadedWeights } from '../model/weights.js';
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
 * The page's sink: one buffer of the stated size, filled as the bytes arrive (a 330 MB checkpoint
 * is held once, not once in chunks and again joined); chunks only when no size was stated.
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

/** Stores a file in Cache Storage; false when it could not (no cache, or over the quota: the next visit converts again). */
async function store(cache: Cache | undefined, key: string, bytes: Uint8Array | string): Promise<boolean> {
  if (!cache) return false;
  return Promise.resolve()
    .then(() => cache.put(key, new Response(bytes as BodyInit, { headers: { 'content-type': 'application/octet-stream' } })))
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
  const get = async (file: string, optional: boolean): Promise<Uint8Array | undefined> => {
    const sink = new MemorySink();
    try {
      await downloadHubFile(id, pin, file, sink, http, { onProgress: (done, total) => o.onProgress?.({ stage: 'download', done, total, detail: file }) });
    } catch (e) {
      if (optional && e instanceof WebvitError && e.code === 'NOT_FOUND' && /no such file/.test(e.message)) return undefined;
      throw e;
    }
    return sink.bytes();
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
  // The checkpoint and its converted tensors live only inside this call: once the file is encoded
  // they can be collected, before the encoded file is read back (the peak stays near 2× the checkpoint).
  const bytes = await (async () => {
  const tensors = new Map<string, SourceTensor>();
  let metadata: Record<string, string> = {};
  let single = await get('model.safetensors', true);
  if (single) {
    const f = parseSafetensors(single, `${source} model.safetensors`);
    metadata = f.metadata;
    for (const t of sourceTensors(f)) tensors.set(t.name, t);
  } else {
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
    for (const shard of shardNames(new TextDecoder().decode(index), id, revision)) {
      const f = parseSafetensors((await get(shard, false))!, `${source} ${shard}`);
      if (tensors.size === 0) metadata = f.metadata;
      for (const t of sourceTensors(f)) {
        if (tensors.has(t.name)) throw new WebvitError('BAD_WEIGHTS', `${source}: tensor ${clip(t.name)} is in two shards`);
        tensors.set(t.name, t);
      }
    }
  }
  o.onProgress?.({ stage: 'convert', done: 0, total: 1, detail: source });
  let ckpt: Checkpoint | undefined = { source, tensors, metadata, config, configSource: `${source} config.json`, preprocessor, preprocessorSource: preprocessor ? `${source} preprocessor_config.json` : undefined };
  const r = convertCheckpoint(ckpt);
  // The source's bytes are not needed once every tensor was read: dropped before the encoding.
  tensors.clear();
  single = undefined;
  ckpt = undefined;
  return encodeWeights(r.weights, outputDtype(dtype), { 'webvit.converted_from': r.layout, 'webvit.source': `hf:${id}@${commit ?? revision}`, ...r.metadata });
  })();
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
