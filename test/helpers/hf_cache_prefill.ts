import { existsSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { acceptsRevision, repoFromStand, statedEtag, storeRepo, type StandInRepo, type StoredRepo } from './hub_repo_store.js';

// Writes a Hugging Face cache as Python's huggingface_hub lays it out after hf_hub_download, with
// no help from webvit's code, so a test can hand webvit a cache "someone else" filled.
//
// Layout (huggingface_hub src/huggingface_hub/file_download.py):
//   {cache}/CACHEDIR.TAG                                   _create_cachedir_tag (_local_folder.py)
//   {cache}/models--{org}--{name}/                         repo_folder_name: "models" + id parts, "--"-joined
//     blobs/{etag}                                         _hf_hub_download_to_cache_dir: blob_path
//     snapshots/{commit}/{path}  -> ../../blobs/{etag}     _get_pointer_path; _create_symlink makes the
//                                                          link relative (os.path.relpath from the link's
//                                                          folder), so one more "../" per subfolder
//     refs/{revision}            = commit, no newline      _cache_commit_hash_for_specific_revision
//                                                          (write_text(commit_hash)); none when the
//                                                          revision is the commit itself
// {etag} is the normalized ETag get_hf_file_metadata returns: X-Linked-Etag (the sha256) for an
// LFS file, else ETag (the git blob sha1). Not written: .locks/ (only held while downloading) and
// the per-download temporary files ("{etag}.{uuid}.incomplete", moved into blobs/ when complete).

export interface PrefilledCache {
  /** {cacheDir}/models--{org}--{name} */
  repoDir: string;
  /** {repoDir}/snapshots/{commit} */
  snapshotDir: string;
  commit: string;
  /** path in repo -> the snapshot path (the symlink) hf_hub_download would return. */
  files: Record<string, string>;
}

// The Cache Directory Tagging Standard's required first line; the rest is a comment.
const CACHEDIR_TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# Cache directory tag written by webvit\'s tests, as huggingface_hub tags its cache.\n';

export function repoFolderName(id: string): string {
  return ['models', ...id.split('/')].join('--');
}

function findRepo(source: object | StandInRepo | StandInRepo[], id: string): StoredRepo | undefined {
  if (Array.isArray(source)) {
    const repo = source.find((r) => r.id === id);
    return repo && storeRepo(repo);
  }
  if ('files' in source && 'id' in source) return (source as StandInRepo).id === id ? storeRepo(source as StandInRepo) : undefined;
  return repoFromStand(source, id);
}

/**
 * Fills `cacheDir` with `files` of repo `id` at `options.revision` (default: the repo's branch),
 * taking the contents, ETags and commit from a started stand-in or from StandInRepo objects.
 */
export async function prefillHfCache(
  cacheDir: string,
  source: object | StandInRepo | StandInRepo[],
  id: string,
  files: string[],
  options: { revision?: string } = {},
): Promise<PrefilledCache> {
  const repo = findRepo(source, id);
  if (!repo) throw new Error(`prefillHfCache: no repo ${JSON.stringify(id)} in the stand-in or repos given`);
  const revision = options.revision ?? repo.branch;
  if (!acceptsRevision(repo, revision)) {
    throw new Error(`prefillHfCache: repo ${id} has no revision ${JSON.stringify(revision)} (branch ${repo.branch}, commit ${repo.commit}, tags ${repo.tags.join(', ') || 'none'})`);
  }
  const repoDir = join(cacheDir, repoFolderName(id));
  const snapshotDir = join(repoDir, 'snapshots', repo.commit);
  await mkdir(cacheDir, { recursive: true });
  if (!existsSync(join(cacheDir, 'CACHEDIR.TAG'))) await writeFile(join(cacheDir, 'CACHEDIR.TAG'), CACHEDIR_TAG);

  const out: Record<string, string> = {};
  for (const path of files) {
    const file = repo.files.get(path);
    if (!file) throw new Error(`prefillHfCache: repo ${id} has no file ${JSON.stringify(path)}; it has ${[...repo.files.keys()].join(', ')}`);
    const blob = join(repoDir, 'blobs', statedEtag(file));
    await mkdir(dirname(blob), { recursive: true });
    if (!existsSync(blob)) await writeFile(blob, file.bytes);
    const pointer = join(snapshotDir, ...path.split('/'));
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    await symlink(relative(dirname(pointer), blob), pointer);
    out[path] = pointer;
  }
  if (revision !== repo.commit) {
    const ref = join(repoDir, 'refs', ...revision.split('/'));
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, repo.commit);
  }
  return { repoDir, snapshotDir, commit: repo.commit, files: out };
}
