import { READ_LIMITS, readRegularFile } from '../runtime/node-read-file.js';
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

export async function readWeightFile(path: string): Promise<WeightFile> {
  const bytes = await readRegularFile(path, {
    code: 'BAD_WEIGHTS',
    what: 'the model file',
    limit: READ_LIMITS.weights,
    tooLargeHint: 'the most one read can hold; convert it with --dtype f16 to halve it',
    directoryHint: 'pass the .safetensors file in it, or convert a checkpoint folder with `webvit convert DIR -o FILE`',
  });
  return { path, bytes, weights: readWeights(bytes, path) };
}
