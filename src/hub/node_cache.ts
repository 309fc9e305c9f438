import { createHash } from 'node:crypto';
import { lstat, mkdir, open, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { clip, WebvitError } from '../errors.js';
import { downloadHubFile, fileName, hubFileInfo, type HubFile, type HubOptions, type Sink } from './client.js';
import { DEFAULT_HUB_URL, isCommit, repoFolderName } from './id.js';

/**
 * The Hugging Face cache on disk (Node), laid out exactly as Python's huggingface_hub lays it out,
 * so that a model fetched by either is used by the other without a download
 * (docs/model-ids.md#the-hugging-face-cache):
 *
 *     {cache}/models--{org}--{name}/
 *       blobs/{etag}                  the file's bytes, named by its sha256 (LFS) or git sha1
 *       blobs/{etag}.incomplete       a download in progress (resumed from its length)
 *       snapshots/{commit}/{path}     a relative symlink to ../../blobs/{etag}
 *       refs/{revision}               the commit the revision pointed to (no newline)
 *       .no_exist/{commit}/{path}     an empty file: the repository has no such file there
 *
 * The environment means what it means to huggingface_hub: HF_HUB_CACHE (or HF_HOME/hub, default
 * ~/.cache/huggingface/hub), HF_ENDPOINT, HF_TOKEN (or the token file $HF_HOME/token that
 * `huggingface-cli login` writes), HF_HUB_OFFLINE=1 (no request at all: the cache or an error),
 * HF_HUB_DOWNLOAD_TIMEOUT and HF_HUB_ETAG_TIMEOUT (seconds).
 *
 * A downloaded file is checked against the size the Hub states and the hash its ETag is (sha256
 * for LFS files, git's blob sha1 for others) before it becomes a blob; a file that fails is
 * deleted and the error names it. When the Hub cannot be reached, a revision already in the cache
 * is used, as huggingface_hub does, and said so.
 */

export interface HubEnv {
  cacheDir: string;
  hubUrl: string;
  token?: string;
  offline: boolean;
  idleTimeoutMs: number;
}

const TRUE = new Set(['1', 'ON', 'YES', 'TRUE']);

/** The Hugging Face settings from the environment (huggingface_hub's constants.py). */
export async function hubEnv(env: Record<string, string | undefined> = process.env): Promise<HubEnv> {
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  const cacheDir = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(hfHome, 'hub');
  let token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  if (!token) {
    const path = env.HF_TOKEN_PATH || join(hfHome, 'token');
    token = (await readFile(path, 'utf8').catch(() => '')).trim() || undefined;
  }
  const seconds = Number(env.HF_HUB_DOWNLOAD_TIMEOUT ?? env.HF_HUB_ETAG_TIMEOUT ?? 30);
  return {
    cacheDir,
    hubUrl: (env.HF_ENDPOINT || DEFAULT_HUB_URL).replace(/\/+$/, ''),
    token,
    offline: TRUE.has((env.HF_HUB_OFFLINE ?? env.TRANSFORMERS_OFFLINE ?? '').toUpperCase()),
    idleTimeoutMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000,
  };
}

export interface CacheFile {
  /** The snapshot path (a symlink into blobs/), or undefined when the repository has no such file. */
  path?: string;
  commit: string;
  /** Downloaded now (false: it was in the cache). */
  downloaded: boolean;
}

export interface CacheOptions {
  env: HubEnv;
  signal?: AbortSignal;
  /** An absent file is not an error (undefined path). */
  optional?: boolean;
  onProgress?: (file: string, done: number, total: number | undefined) => void;
  /** What a HEAD of this file at this revision already said (hubFileInfo): not asked again. */
  known?: HubFile;
  /** @internal tests */
  backoffMs?: (n: number) => number;
  fetch?: typeof fetch;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** The commit a revision points to in the cache (a commit is itself), or undefined. */
async function cachedCommit(repoDir: string, revision: string): Promise<string | undefined> {
  if (isCommit(revision)) return (await exists(join(repoDir, 'snapshots', revision))) ? revision : undefined;
  const ref = await readFile(join(repoDir, 'refs', revision), 'utf8').catch(() => undefined);
  return ref !== undefined && isCommit(ref.trim()) ? ref.trim() : undefined;
}

/** A file from the cache alone (offline, or the Hub unreachable), or undefined when it is not there. */
async function fromCache(repoDir: string, revision: string, file: string): Promise<CacheFile | undefined> {
  const commit = await cachedCommit(repoDir, revision);
  if (!commit) return undefined;
  const pointer = join(repoDir, 'snapshots', commit, file);
  if (await exists(pointer)) return { path: pointer, commit, downloaded: false };
  if (await exists(join(repoDir, '.no_exist', commit, file))) return { commit, downloaded: false };
  return undefined;
}

/** Writes a small file whole (refs, .no_exist markers): a temporary file renamed over it. */
async function writeSmall(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** refs/{revision} ← commit (nothing for a revision that is the commit itself). */
export async function writeRef(env: HubEnv, id: string, revision: string, commit: string): Promise<void> {
  if (revision !== commit) await writeSmall(join(env.cacheDir, repoFolderName(id), 'refs', revision), commit);
}

/** snapshots/{commit}/{file} → ../../blobs/{etag}, relative (one more ../ per subfolder), as huggingface_hub's _create_symlink. */
async function link(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blob);
  const old = await readlink(pointer).catch(() => undefined);
  if (old === target) return;
  if (old !== undefined || (await lstat(pointer).catch(() => undefined))) await rm(pointer, { force: true });
  try {
    await symlink(target, pointer);
  } catch (e) {
    // Another process made it meanwhile: fine when it points at the same blob.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || (await readlink(pointer).catch(() => undefined)) !== target) throw e;
  }
}

/** Hashes of what a file sink received: sha256 (LFS ETags) and git's blob sha1 (other ETags). */
function expectedDigest(etag: string): { kind: 'sha256' | 'git-sha1'; check(bytesHash: { sha256: string; gitSha1: string }): boolean } | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return { kind: 'sha256', check: (h) => h.sha256 === etag };
  if (/^[0-9a-f]{40}$/.test(etag)) return { kind: 'git-sha1', check: (h) => h.gitSha1 === etag };
  return undefined;
}

/** A `.incomplete` file that a download appends to, hashing as it goes. */
class FileSink implements Sink {
  private constructor(
    private readonly path: string,
    private handle: import('node:fs/promises').FileHandle,
    public have: number,
  ) {}
  static async open(path: string): Promise<FileSink> {
    await mkdir(dirname(path), { recursive: true });
    const h = await open(path, 'a');
    const { size } = await h.stat();
    return new FileSink(path, h, size);
  }
  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    // A short write (a full disk) is retried for the rest, or throws ENOSPC.
    while (at < chunk.byteLength) at += (await this.handle.write(chunk, at, chunk.byteLength - at)).bytesWritten;
    this.have += chunk.byteLength;
  }
  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.have = 0;
  }
  async close(): Promise<void> {
    await this.handle.sync().catch(() => undefined);
    await this.handle.close();
  }
  /** Both hashes of the whole file (re-read: a resumed file's first part came from an earlier run). */
  async hashes(size: number): Promise<{ sha256: string; gitSha1: string }> {
    const sha = createHash('sha256');
    const git = createHash('sha1').update(`blob ${size}\0`);
    const h = await open(this.path, 'r');
    try {
      const buf = new Uint8Array(1 << 20);
      for (let pos = 0; ; ) {
        const { bytesRead } = await h.read(buf, 0, buf.byteLength, pos);
        if (bytesRead === 0) break;
        sha.update(buf.subarray(0, bytesRead));
        git.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await h.close();
    }
    return { sha256: sha.digest('hex'), gitSha1: git.digest('hex') };
  }
}

/** How often a download waiting for another's lock looks again. */
const LOCK_POLL_MS = 200;

/**
 * The lock of one blob's download, `.locks/{repo folder}/{etag}.webvit.lock` (huggingface_hub's
 * lock folder; its own locks are other files, held with flock, which Node cannot take): created
 * exclusively, holding the owner's pid and host. Two webvit processes (or two loads in one) that
 * want the same file then download it once: the second waits, then finds the blob. Without it
 * both appended to one `.incomplete` file, and the hash check refused the mixture.
 *
 * A lock whose owner is gone is taken over: on this host, when its pid is no longer running
 * (a killed process); from another host (a shared cache), when neither it nor the download's
 * `.incomplete` file has changed for `staleMs`. Taking over is a rename to a name of its own,
 * then the exclusive create again, so of two processes that both find it stale only one takes it.
 */
async function lockDownload(path: string, incomplete: string, o: { signal?: AbortSignal; staleMs: number; what: string }): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  const me = JSON.stringify({ pid: process.pid, host: hostname(), started: Date.now() });
  for (;;) {
    if (o.signal?.aborted) throw new WebvitError('ABORTED', `stopped by the caller's signal while waiting for another download of ${o.what}`, { cause: o.signal.reason });
    try {
      const h = await open(path, 'wx');
      try {
        await h.writeFile(me);
      } finally {
        await h.close();
      }
      return () => unlink(path).catch(() => undefined);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await staleLock(path, incomplete, o.staleMs)) {
      const aside = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.stale`;
      if (await rename(path, aside).then(() => true, () => false)) await unlink(aside).catch(() => undefined);
      continue;
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
}

/** Whether a download lock's owner is gone (see lockDownload). */
async function staleLock(path: string, incomplete: string, staleMs: number): Promise<boolean> {
  const [text, st, inc] = await Promise.all([readFile(path, 'utf8').catch(() => undefined), stat(path).catch(() => undefined), stat(incomplete).catch(() => undefined)]);
  if (text === undefined || !st) return false; // released meanwhile: try again
  let owner: { pid?: unknown; host?: unknown } = {};
  try {
    owner = JSON.parse(text);
  } catch {
    // Being written (its owner between create and write), or damaged: judged by its age below.
  }
  if (owner.host === hostname() && Number.isSafeInteger(owner.pid)) {
    try {
      process.kill(owner.pid as number, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  const changed = Math.max(st.mtimeMs, inc?.mtimeMs ?? 0);
  return Date.now() - changed > staleMs;
}

/**
 * A repository file in the cache, downloaded when it is not there yet: its snapshot path. Online,
 * one HEAD request says the commit and the file's ETag; a file already in the cache (its snapshot
 * link, or a blob of that ETag) is not downloaded again.
 */
export async function cachedHubFile(id: string, revision: string, file: string, o: CacheOptions): Promise<CacheFile> {
  const { env } = o;
  const repoDir = join(env.cacheDir, repoFolderName(id));
  const what = fileName(id, revision, file);
  if (env.offline) {
    const hit = await fromCache(repoDir, revision, file);
    if (hit && (hit.path || o.optional)) return hit;
    if (!hit && o.optional && (await cachedCommit(repoDir, revision))) return { commit: (await cachedCommit(repoDir, revision))!, downloaded: false };
    throw new WebvitError(
      'NOT_FOUND',
      `${what} is not in the Hugging Face cache (${clip(env.cacheDir, 200)}) and HF_HUB_OFFLINE is set, so nothing is downloaded: run once online, or unset HF_HUB_OFFLINE`,
    );
  }
  const http: HubOptions = { hubUrl: env.hubUrl, token: env.token, signal: o.signal, idleTimeoutMs: env.idleTimeoutMs, manualRedirects: true, backoffMs: o.backoffMs, fetch: o.fetch };
  let info: HubFile | undefined;
  try {
    info = o.known ?? (await hubFileInfo(id, revision, file, http, o.optional));
  } catch (e) {
    // Unreachable (not an answer such as 404 or 401): what the cache has for this revision, as huggingface_hub does.
    if (e instanceof WebvitError && e.code === 'NETWORK') {
      const hit = await fromCache(repoDir, revision, file);
      if (hit && (hit.path || o.optional)) return hit;
    }
    throw e;
  }
  if (!info) {
    // No such file: remembered for this commit, as huggingface_hub's .no_exist (offline runs then know).
    const commit = await cachedCommit(repoDir, revision);
    if (commit) await writeSmall(join(repoDir, '.no_exist', commit, file), '').catch(() => undefined);
    return { commit: commit ?? '', downloaded: false };
  }
  const commit = info.commit;
  if (!commit || !isCommit(commit)) {
    throw new WebvitError('NETWORK', `${env.hubUrl} did not state the commit of ${what} (no X-Repo-Commit header): is HF_ENDPOINT a Hugging Face Hub?`);
  }
  if (revision !== commit) await writeSmall(join(repoDir, 'refs', revision), commit);
  const pointer = join(repoDir, 'snapshots', commit, file);
  if (await exists(pointer)) return { path: pointer, commit, downloaded: false };
  const etag = info.etag;
  if (!etag || !/^[0-9a-zA-Z._-]{1,128}$/.test(etag)) throw new WebvitError('NETWORK', `${env.hubUrl} stated no usable ETag for ${what} (${clip(String(etag), 80)}): cannot name it in the cache`);
  const blob = join(repoDir, 'blobs', etag);
  const size = info.size;
  /** The blob, when it is in the cache whole: linked into this snapshot. */
  const fromBlob = async (): Promise<CacheFile | undefined> => {
    const st = await stat(blob).catch(() => undefined);
    if (!st?.isFile() || (size !== undefined && st.size !== size)) return undefined;
    await link(blob, pointer);
    return { path: pointer, commit, downloaded: false };
  };
  const cached = await fromBlob();
  if (cached) return cached;
  const incomplete = `${blob}.incomplete`;
  // One download of a blob at a time, across processes; one that waited finds the blob done.
  const release = await lockDownload(join(env.cacheDir, '.locks', repoFolderName(id), `${etag}.webvit.lock`), incomplete, { signal: o.signal, staleMs: Math.max(60_000, 10 * env.idleTimeoutMs), what });
  try {
    return (await fromBlob()) ?? (await downloadBlob(id, commit, file, { blob, incomplete, pointer, info, what, http, o }));
  } finally {
    await release();
  }
}

/** Downloads a blob (into its `.incomplete` file, resumed from its length), checks its size and hash, and links it into the snapshot. */
async function downloadBlob(
  id: string,
  commit: string,
  file: string,
  a: { blob: string; incomplete: string; pointer: string; info: HubFile; what: string; http: HubOptions; o: CacheOptions },
): Promise<CacheFile> {
  const { blob, incomplete, pointer, info, what, http, o } = a;
  const { env } = o;
  const etag = info.etag!;
  const sink = await FileSink.open(incomplete);
  try {
    // The bytes from where the HEAD's redirect pointed (the CDN), at the pinned commit.
    await downloadHubFile(id, commit, file, sink, http, { location: info.location !== info.url ? info.location : undefined, expectedSize: info.size, onProgress: (d, t) => o.onProgress?.(file, d, t) });
  } catch (e) {
    await sink.close().catch(() => undefined);
    // A full disk leaves nothing behind; a broken transfer leaves the .incomplete file for the next run to resume.
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || (e as NodeJS.ErrnoException).code === 'EDQUOT') {
      await unlink(incomplete).catch(() => undefined);
      throw new WebvitError('IO', `cannot download ${what} into ${clip(env.cacheDir, 200)}: ${(e as Error).message}; free some space or set HF_HUB_CACHE to another disk`, { cause: e });
    }
    // Bytes that can never become the file (the server's copy is shorter than stated): not kept for a resume.
    if ((e as { discard?: boolean }).discard) await unlink(incomplete).catch(() => undefined);
    if (e instanceof WebvitError) throw e;
    throw new WebvitError('IO', `cannot write ${what} into ${clip(env.cacheDir, 200)}: ${(e as Error).message}`, { cause: e });
  }
  await sink.close();
  const digest = expectedDigest(etag);
  if (info.size !== undefined && sink.have !== info.size) {
    await unlink(incomplete).catch(() => undefined);
    throw new WebvitError('NETWORK', `download of ${what} has ${sink.have} bytes, the Hub stated ${info.size}: deleted; try again`);
  }
  if (digest) {
    const hashes = await sink.hashes(sink.have);
    if (!digest.check(hashes)) {
      await unlink(incomplete).catch(() => undefined);
      throw new WebvitError(
        'NETWORK',
        `download of ${what} does not match the hash the Hub stated (${digest.kind} ${etag}, got ${digest.kind === 'sha256' ? hashes.sha256 : hashes.gitSha1}): deleted; try again (a proxy that changes files, or a damaged transfer)`,
      );
    }
  }
  await rename(incomplete, blob);
  await link(blob, pointer);
  return { path: pointer, commit, downloaded: true };
}
