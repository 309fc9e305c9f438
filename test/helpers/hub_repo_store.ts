import { createHash } from 'node:crypto';

// The repository model behind the Hub stand-in (hub_stand_in.ts) and the cache writer
// (hf_cache_prefill.ts): file contents, which files are LFS, and the hashes the Hub states for
// them. Both read it from here so the server and the cache agree on every ETag and commit.

export interface StandInRepo {
  /** "org/name", or a legacy single name ("bert-base-uncased"). */
  id: string;
  /** Path in the repo -> content; strings are UTF-8 encoded. */
  files: Record<string, Uint8Array | string>;
  /** 40 lowercase hex; default: sha1 over the sorted (path, content) pairs (see defaultCommit). */
  commit?: string;
  /** Default "main". The revisions accepted: this branch, the full commit, and `tags`. */
  branch?: string;
  /** Other revision names accepted (any ref name, "v1.0" or "refs/pr/1"). */
  tags?: string[];
  /** Without this token the repo is refused as the Hub refuses a gated repo. */
  gated?: { token: string };
  /** An old id: requests to it get the Hub's relative 307 redirect to `id`. */
  renamedFrom?: string;
  /** Which files are LFS; default DEFAULT_LFS below. */
  lfs?: (path: string) => boolean;
}

export interface StoredFile {
  path: string;
  bytes: Uint8Array;
  lfs: boolean;
  /** git blob id: sha1 of `blob <len>\0` + content. The ETag the Hub states for a regular file. */
  gitSha1: string;
  /** sha256 of the content: the LFS oid, which the Hub states as X-Linked-Etag for an LFS file. */
  sha256: string;
}

export interface StoredRepo {
  id: string;
  commit: string;
  branch: string;
  tags: string[];
  gated?: { token: string };
  renamedFrom?: string;
  files: Map<string, StoredFile>;
}

// The patterns of the .gitattributes a new Hub repo starts with that matter to a vision model
// repo (the real list is longer: *.ckpt, *.tflite, *.zip, ...).
const LFS_EXTENSIONS = ['.safetensors', '.bin', '.pt', '.pth', '.onnx', '.msgpack', '.h5'];
export const DEFAULT_LFS = (path: string): boolean => LFS_EXTENSIONS.some((ext) => path.endsWith(ext));

const COMMIT_RE = /^[0-9a-f]{40}$/;
const REPO_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** git's blob id (what `git hash-object FILE` prints). */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function toBytes(content: Uint8Array | string): Uint8Array {
  return typeof content === 'string' ? new TextEncoder().encode(content) : content;
}

/**
 * Stand-in for a commit id when the repo gives none: sha1 over the paths in sorted order, each as
 * `path \0 size \0 content`. Not git's commit hash (there is no tree or author); it only has to
 * be stable and change when any file does.
 */
export function defaultCommit(files: Record<string, Uint8Array | string>): string {
  const h = createHash('sha1');
  for (const path of Object.keys(files).sort()) {
    const bytes = toBytes(files[path]);
    h.update(path).update('\0').update(String(bytes.length)).update('\0').update(bytes);
  }
  return h.digest('hex');
}

/** Checks a StandInRepo where it enters and computes every hash once. */
export function storeRepo(repo: StandInRepo): StoredRepo {
  const where = `hub stand-in: repo ${JSON.stringify(repo?.id)}`;
  if (typeof repo?.id !== 'string' || !REPO_ID_RE.test(repo.id)) {
    throw new Error(`${where}: id must be "org/name" or a single name of letters, digits, ".", "_", "-"`);
  }
  if (repo.commit !== undefined && !COMMIT_RE.test(repo.commit)) {
    throw new Error(`${where}: commit must be 40 lowercase hex digits, got ${JSON.stringify(repo.commit)}`);
  }
  if (repo.renamedFrom !== undefined && !REPO_ID_RE.test(repo.renamedFrom)) {
    throw new Error(`${where}: renamedFrom must be a repo id, got ${JSON.stringify(repo.renamedFrom)}`);
  }
  const isLfs = repo.lfs ?? DEFAULT_LFS;
  const files = new Map<string, StoredFile>();
  for (const [path, content] of Object.entries(repo.files ?? {})) {
    if (path === '' || path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new Error(`${where}: file path ${JSON.stringify(path)} must be relative, without empty, "." or ".." parts`);
    }
    const bytes = toBytes(content);
    files.set(path, { path, bytes, lfs: isLfs(path), gitSha1: gitBlobSha1(bytes), sha256: sha256Hex(bytes) });
  }
  return {
    id: repo.id,
    commit: repo.commit ?? defaultCommit(repo.files ?? {}),
    branch: repo.branch ?? 'main',
    tags: [...(repo.tags ?? [])],
    gated: repo.gated,
    renamedFrom: repo.renamedFrom,
    files,
  };
}

/**
 * The ETag the Hub states for a file, unquoted: the sha256 (X-Linked-Etag) for an LFS file, the
 * git blob sha1 (ETag) for a regular one. huggingface_hub names the cache blob after it
 * (file_download.py, get_hf_file_metadata: X-Linked-Etag, else ETag, through _normalize_etag).
 */
export function statedEtag(file: StoredFile): string {
  return file.lfs ? file.sha256 : file.gitSha1;
}

/** Whether `revision` names this repo's state: its branch, its full commit, or one of its tags. */
export function acceptsRevision(repo: StoredRepo, revision: string): boolean {
  return revision === repo.branch || revision === repo.commit || repo.tags.includes(revision);
}

/** Each started stand-in registers its repos here so prefillHfCache can read them. */
const standRepos = new WeakMap<object, (id: string) => StoredRepo | undefined>();

export function registerStand(stand: object, lookup: (id: string) => StoredRepo | undefined): void {
  standRepos.set(stand, lookup);
}

export function repoFromStand(stand: object, id: string): StoredRepo | undefined {
  return standRepos.get(stand)?.(id);
}
