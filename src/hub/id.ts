import { clip, WebvitError } from '../errors.js';

export { looksLikeModelId } from './looks_like_id.js';

/**
 * Model ids as the Hugging Face Hub names repositories (docs/model-ids.md), shared by the page and
 * Node: `org/name`, `hf:org/name` (forces the Hub where a local path of that name exists, and
 * allows a legacy one-part name), `org/name@revision` (a branch, a tag or a commit).
 *
 * The rules follow huggingface_hub's validate_repo_id: each part is letters, digits, `-`, `_` and
 * `.`, at most 96 characters, starting and ending with a letter or digit, with no `--` or `..`;
 * a name ending in `.git` is not a repository. Parsing is strict: what is not an id is refused
 * with the reason, never guessed at.
 */

export interface ModelId {
  /** `org/name` (or a legacy `name`). */
  id: string;
  /** The revision asked for (undefined: the caller's default, `main`). */
  revision?: string;
}

/** The Hub's public address (huggingface_hub's ENDPOINT default). */
export const DEFAULT_HUB_URL = 'https://huggingface.co';

const PART = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?$/;

/** Why `id` is not a repository id, or undefined when it is one. */
export function idProblem(id: string, allowSingle: boolean): string | undefined {
  const parts = id.split('/');
  if (parts.length > 2) return `it has ${parts.length - 1} slashes; a model id is "org/name"`;
  if (parts.length === 1 && !allowSingle) return 'a model id is "org/name"';
  for (const p of parts) {
    if (!PART.test(p)) {
      return p.length > 96
        ? `"${clip(p, 40)}" is longer than 96 characters`
        : `"${clip(p, 100)}" may hold only letters, digits, "-", "_" and "." and must start and end with a letter or digit`;
    }
    if (p.includes('--') || p.includes('..')) return `"${clip(p, 100)}" has "--" or ".."`;
  }
  if (id.endsWith('.git')) return 'it ends in ".git"';
  return undefined;
}

/**
 * A revision: a branch, tag or 40-hex commit. Refs such as `refs/pr/1` are allowed; what cannot
 * be one (empty, control characters, `..`, a leading `/`) is refused.
 */
export function revisionProblem(rev: string): string | undefined {
  if (rev.length === 0) return 'the revision is empty';
  if (rev.length > 256) return 'the revision is longer than 256 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(rev) || rev.includes('..') || rev.startsWith('/') || rev.endsWith('/') || rev.endsWith('.lock')) {
    return `"${clip(rev, 80)}" is not a branch, tag or commit name`;
  }
  return undefined;
}

/** True for a full commit hash (the only revision that never moves). */
export const isCommit = (rev: string): boolean => /^[0-9a-f]{40}$/.test(rev);

/**
 * Parses `hf:org/name`, `org/name` and either with `@revision`. `forced` says the text began with
 * `hf:`. Throws BAD_ARGUMENT naming the problem.
 */
export function parseModelId(text: string, where = 'model id'): ModelId & { forced: boolean } {
  const forced = text.startsWith('hf:');
  const body = forced ? text.slice(3) : text;
  const at = body.indexOf('@');
  const id = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? undefined : body.slice(at + 1);
  const bad = idProblem(id, forced);
  if (bad) throw new WebvitError('BAD_ARGUMENT', `${where} "${clip(text, 120)}": ${bad} (as on the Hugging Face Hub, e.g. google/vit-base-patch16-224)`);
  if (revision !== undefined) {
    const badRev = revisionProblem(revision);
    if (badRev) throw new WebvitError('BAD_ARGUMENT', `${where} "${clip(text, 120)}": ${badRev}`);
  }
  return { id, revision, forced };
}


/** The folder name huggingface_hub gives a model repository in its cache: `models--org--name`. */
export const repoFolderName = (id: string): string => ['models', ...id.split('/')].join('--');

/**
 * `{hubUrl}/{id}/resolve/{revision}/{file}`, the Hub's file URL (huggingface_hub's
 * HUGGINGFACE_CO_URL_TEMPLATE): the revision escaped whole (`refs/pr/1` → `refs%2Fpr%2F1`), the
 * file path segment by segment.
 */
export function resolveUrl(hubUrl: string, id: string, revision: string, file: string): string {
  const base = hubUrl.replace(/\/+$/, '');
  return `${base}/${id}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}
