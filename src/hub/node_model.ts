import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { clip, WebvitError } from '../errors.js';
import { writeFileAtomically } from '../runtime/node-write-file.js';
import { convertCheckpointStreamed } from '../model/convert/files.js';
import { outputDtype } from '../model/convert/index.js';
import { loadWeights } from '../model/weights.js';
import { checkArchitecture } from './architecture.js';
import { hubFileInfo, fileName, type HubFile, type HubOptions } from './client.js';
import { noSafetensors, PICKLED_WEIGHTS, shardNames } from './repo_files.js';
import { cachedHubFile, hubEnv, writeRef, type CacheOptions, type HubEnv } from './node_cache.js';
import { isCommit, repoFolderName } from './id.js';

/**
 * A model by Hub id, in Node (docs/model-ids.md): the checkpoint's files fetched into the Hugging
 * Face cache (node_cache.ts), converted, and the webvit file kept in webvit's own cache under the
 * id, the commit, the dtype and the weight-format version, so that a second run reads one file:
 *
 *     {WEBVIT_CACHE_DIR or ~/.cache/webvit}/hub/models--{org}--{name}/{commit}/{dtype}.format1.safetensors
 *
 * A second run online makes one HEAD request (which commit is `main` now?); with a commit as the
 * revision, or offline, none.
 */

/** webvit's weight format version (webvit.version in every file it writes): part of the cache key. */
const FORMAT = '1';

export type HubDtype = 'f32' | 'f16' | 'int8' | 'q4';

export interface HubModelOptions {
  revision?: string;
  dtype?: HubDtype;
  env?: HubEnv;
  /** webvit's cache folder (default webvitCacheDir()). */
  webvitCache?: string;
  signal?: AbortSignal;
  onProgress?: (e: HubProgress) => void;
  /** @internal tests */
  backoffMs?: (n: number) => number;
}

export type HubProgress = { stage: 'download'; file: string; done: number; total?: number } | { stage: 'convert' } | { stage: 'cached'; file: string };

export interface HubCheckpoint {
  /** The snapshot folder (snapshots/{commit}) holding the files read. */
  dir: string;
  commit: string;
  /** Repository paths fetched (config.json, weights or index and shards, preprocessor_config.json). */
  files: string[];
  downloaded: boolean;
}

/** $WEBVIT_CACHE_DIR, else $XDG_CACHE_HOME/webvit, else ~/.cache/webvit (the tuning cache's folder too). */
export const webvitCacheDir = (env: Record<string, string | undefined> = process.env): string =>
  env.WEBVIT_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webvit');

/** Where the converted file of `id` at `commit` is kept. */
export const convertedPath = (id: string, commit: string, dtype: HubDtype, cacheDir = webvitCacheDir()): string =>
  join(cacheDir, 'hub', repoFolderName(id), commit, `${dtype}.format${FORMAT}.safetensors`);

/** The Hub requests' options in Node (redirects followed by hand: the token stays with the Hub). */
const httpOf = (o: HubModelOptions & { env: HubEnv }): HubOptions => ({ hubUrl: o.env.hubUrl, token: o.env.token, signal: o.signal, idleTimeoutMs: o.env.idleTimeoutMs, manualRedirects: true, backoffMs: o.backoffMs });

/**
 * The files of a checkpoint, in the Hugging Face cache: config.json (its architecture checked
 * before any weights are fetched), preprocessor_config.json when there is one, and
 * model.safetensors, or the shard index and its shards. All from one commit: the first file pins
 * the revision.
 */
export async function fetchCheckpoint(id: string, revision: string, o: HubModelOptions & { env: HubEnv; pinned?: string; config?: HubFile }): Promise<HubCheckpoint> {
  const co: CacheOptions = { env: o.env, signal: o.signal, backoffMs: o.backoffMs, onProgress: (file, done, total) => o.onProgress?.({ stage: 'download', file, done, total }) };
  const files: string[] = [];
  let downloaded = false;
  let commit: string | undefined = o.pinned;
  const get = async (file: string, optional: boolean, known?: HubFile) => {
    const r = await cachedHubFile(id, commit ?? revision, file, { ...co, optional, known });
    if (r.commit) commit ??= r.commit;
    downloaded ||= r.downloaded;
    if (r.path) files.push(file);
    return r.path;
  };
  // The HEAD that pinned the commit (commitOf) already described config.json.
  const configPath = await get('config.json', true, o.config);
  if (configPath) {
    let cfg: unknown;
    try {
      cfg = JSON.parse(await readFile(configPath, 'utf8'));
    } catch (e) {
      throw new WebvitError('BAD_WEIGHTS', `${fileName(id, revision, 'config.json')} is not valid JSON (${clip((e as Error).message)})`);
    }
    if (typeof cfg === 'object' && cfg !== null && !Array.isArray(cfg)) checkArchitecture(id, cfg as Record<string, unknown>);
  }
  await get('preprocessor_config.json', true);
  if (!(await get('model.safetensors', true))) {
    const index = await get('model.safetensors.index.json', true);
    if (index) {
      for (const s of shardNames(await readFile(index, 'utf8'), id, revision)) await get(s, false);
    } else {
      // Offline the cache says nothing about pickled files; online one HEAD each tells the two cases apart.
      const pickled: string[] = [];
      if (!o.env.offline) for (const p of PICKLED_WEIGHTS) if (await hubFileInfo(id, commit ?? revision, p, httpOf(o), true)) pickled.push(p);
      throw noSafetensors(id, revision, pickled, o.env.offline);
    }
  }
  if (!commit) throw new WebvitError('NOT_FOUND', `${clip(id, 200)}: no commit found for revision ${clip(revision, 80)}`);
  if (!o.env.offline) await writeRef(o.env, id, revision, commit);
  return { dir: join(o.env.cacheDir, repoFolderName(id), 'snapshots', commit), commit, files, downloaded };
}

export interface HubModelFile {
  /** The converted webvit weight file. */
  path: string;
  commit: string;
  /** It was in webvit's cache: nothing was downloaded or converted. */
  cached: boolean;
  /** The converter's notes (when it converted now). */
  notes: string[];
}

/**
 * The commit `revision` names, without downloading anything (a commit: itself; offline: the
 * cache's ref); online, with what the HEAD of config.json said, which the download then uses
 * rather than asking again.
 */
async function commitOf(id: string, revision: string, o: HubModelOptions & { env: HubEnv }): Promise<{ commit?: string; config?: HubFile }> {
  if (isCommit(revision)) return { commit: revision };
  const repoDir = join(o.env.cacheDir, repoFolderName(id));
  const ref = async () => (await readFile(join(repoDir, 'refs', revision), 'utf8').catch(() => '')).trim() || undefined;
  if (o.env.offline) return { commit: await ref() };
  const info = await hubFileInfo(id, revision, 'config.json', httpOf(o), true).catch((e) => {
    // Unreachable: the cache's ref, as huggingface_hub falls back to it.
    if (e instanceof WebvitError && e.code === 'NETWORK') return undefined;
    throw e;
  });
  return info?.commit ? { commit: info.commit, config: info } : { commit: await ref() };
}

/**
 * A webvit weight file for a Hub model: from webvit's cache when this commit and dtype were
 * converted before, else fetched (Hugging Face cache), converted and cached.
 */
export async function hubModelFile(id: string, o: HubModelOptions = {}): Promise<HubModelFile> {
  const env = o.env ?? (await hubEnv());
  const revision = o.revision ?? 'main';
  const dtype = o.dtype ?? 'f32';
  const oo = { ...o, env };
  const { commit: known, config } = await commitOf(id, revision, oo);
  if (known) {
    const path = convertedPath(id, known, dtype, o.webvitCache);
    if ((await stat(path).catch(() => undefined))?.isFile()) {
      o.onProgress?.({ stage: 'cached', file: path });
      return { path, commit: known, cached: true, notes: [] };
    }
  }
  const ck = await fetchCheckpoint(id, revision, { ...oo, pinned: known, config });
  o.onProgress?.({ stage: 'convert' });
  // Streamed (stream.ts): the cached files' headers, then their tensors read in chunks and converted
  // into the one output buffer: the checkpoint is never held whole beside the converted file.
  const r = await convertCheckpointStreamed(ck.dir, outputDtype(dtype), (p) => ({ 'webvit.converted_from': p.layout, 'webvit.source': `hf:${id}@${ck.commit}`, ...p.metadata }));
  const bytes = r.bytes;
  const path = convertedPath(id, ck.commit, dtype, o.webvitCache);
  // Checked as every load checks it, reading views of the bytes (no copy: they are dropped after).
  await loadWeights(bytes, path, true);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomically(path, bytes, { follow: false });
  return { path, commit: ck.commit, cached: false, notes: r.notes };
}
