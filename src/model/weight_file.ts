import { readFile, stat } from 'node:fs/promises';
import { WebvitError } from '../errors.js';
import { readWeights, type LoadedWeights } from './weights.js';

/**
 * A webvit weight file read from disk (Node only) and checked: the one way every command and
 * `loadModelFile` read a model, so the same bad file gets the same message everywhere.
 */
export interface WeightFile {
  path: string;
  bytes: Uint8Array;
  weights: LoadedWeights;
}

/** Largest file Node's readFile can hold in one buffer (2 GiB − 1). */
const MAX_READ = 2 ** 31 - 1;

export async function readWeightFile(path: string): Promise<WeightFile> {
  const fail = (why: string): never => {
    throw new WebvitError('BAD_WEIGHTS', `${path}: cannot read the model file (${why})`);
  };
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
  if (st.isDirectory()) fail('it is a directory; pass the .safetensors file in it, or convert a checkpoint folder with `webvit convert DIR -o FILE`');
  if (st.size > MAX_READ) fail(`${st.size} bytes, above the ${MAX_READ}-byte limit of one read; convert it with --dtype f16 to halve it`);
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
  return { path, bytes, weights: readWeights(bytes, path) };
}
