import { existsSync } from 'node:fs';
import { clip, WebvitError } from '../errors.js';
import { parseModelId } from '../hub/id.js';
import { modelSourceKind } from '../hub/source.js';
import { hubModelFile, fetchCheckpoint, type HubProgress } from '../hub/node_model.js';
import { hubEnv } from '../hub/node_cache.js';
import { Progress } from './progress.js';
import { messageLine } from './shown.js';
import { UsageError } from './usage.js';

/**
 * What `--model` (and inspect's, convert's SRC) names: a local path, or a Hugging Face Hub id
 * (docs/model-ids.md). An existing local path always wins, as in transformers; `hf:ID` forces the
 * Hub; `ID@REV` or `--revision REV` picks a branch, tag or commit. A path that does not exist and
 * does not read as an id is left to the file reader, whose message says it is missing.
 */
export interface ModelArg {
  /** A Hub id (undefined: a local path). */
  id?: string;
  revision: string;
  /** The text given. */
  text: string;
  /** `hf:` said it is an id (not also, perhaps, a path that does not exist). */
  forced?: boolean;
}

export function parseModelArg(text: string, revisionFlag: string | undefined): ModelArg {
  if (modelSourceKind(text, existsSync) != 'id') {
    if (revisionFlag !== undefined) throw new UsageError(`--revision applies to a model id on the Hugging Face Hub; ${text} is a local path`);
    return { text, revision: 'main' };
  }
  const m = parseModelId(text, '--model');
  if (m.revision !== undefined && revisionFlag !== undefined && m.revision !== revisionFlag) {
    throw new UsageError(`${text} names revision ${m.revision} and --revision says ${revisionFlag}; give one`);
  }
  return { id: m.id, revision: m.revision ?? revisionFlag ?? 'main', text, forced: m.forced };
}

/**
 * A Hub failure for text that could also have been a path: says that no such path exists either
 * (`--model models/vit` mistyped reads as an id, and "no model models/vit on the Hub" alone misleads).
 */
function orPath(arg: ModelArg, e: unknown): unknown {
  if (arg.forced || !(e instanceof WebvitError) || (e.code !== 'NOT_FOUND' && e.code !== 'NETWORK' && e.code !== 'UNAUTHORIZED')) return e;
  return new WebvitError(e.code, `${e.message} (read as a Hugging Face model id: there is no file or folder ${clip(arg.text, 200)} here)`, { cause: e });
}

/** Download and convert progress on a terminal (nothing on a pipe), and one summary line on stderr. */
function progressLine(): { on: (e: HubProgress) => void; done: () => void } {
  const p = new Progress(0, 'files');
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    on: (e) => {
      if (e.stage === 'download') p.status(`downloading ${e.file} ${mb(e.done)}${e.total !== undefined ? `/${mb(e.total)}` : ''} MB`);
      else if (e.stage === 'convert') p.status('converting to webvit weights');
    },
    done: () => p.clear(),
  };
}

/**
 * A local webvit weight file for a model argument: the path itself, or for a Hub id the converted
 * file in webvit's cache (fetched and converted on first use). `name` is how messages call it.
 */
export async function modelFileFor(arg: ModelArg, dtype: 'f32' | 'f16' = 'f32'): Promise<{ path: string; name: string }> {
  if (!arg.id) return { path: arg.text, name: arg.text };
  const bar = progressLine();
  try {
    const r = await hubModelFile(arg.id, { revision: arg.revision, dtype, onProgress: bar.on }).catch((e: unknown) => Promise.reject(orPath(arg, e)));
    bar.done(); // before the summary line (finally clears it on an error)
    const name = `${arg.id}${arg.revision === 'main' ? '' : `@${arg.revision}`}`;
    if (!r.cached) process.stderr.write(`webvit: ${messageLine(`${name} (commit ${r.commit.slice(0, 12)}) converted and cached in ${r.path}`)}\n`);
    return { path: r.path, name };
  } finally {
    bar.done();
  }
}

/** The checkpoint folder (in the Hugging Face cache) of a Hub id, for `webvit convert ID`. */
export async function checkpointDirFor(arg: ModelArg): Promise<string> {
  if (!arg.id) throw new WebvitError('BAD_ARGUMENT', 'checkpointDirFor: not a model id');
  const bar = progressLine();
  try {
    const env = await hubEnv();
    return (await fetchCheckpoint(arg.id, arg.revision, { env, onProgress: bar.on }).catch((e: unknown) => Promise.reject(orPath(arg, e)))).dir;
  } finally {
    bar.done();
  }
}

/** `--model X [--revision R]` as a local webvit file; without --model, `fallback()` (the bundled model). */
export async function modelOption(model: string | undefined, revision: string | undefined, fallback: () => string): Promise<{ path: string; name: string }> {
  if (model === undefined) {
    if (revision !== undefined) throw new UsageError('--revision needs --model ID (a model on the Hugging Face Hub)');
    const path = fallback();
    return { path, name: path };
  }
  return modelFileFor(parseModelArg(model, revision));
}
