import { READ_LIMITS, readRegularFile } from '../runtime/node-read-file.js';
import { loadWeights, notWebvit, type LoadedWeights } from './weights.js';
import { checkHead } from './safetensors.js';

/**
 * A webvit weight file read from disk (Node only) and checked: the one way every command and
 * `loadModelFile` read a model, so the same bad file gets the same message everywhere.
 */
export interface WeightFile {
  path: string;
  bytes: Uint8Array;
  weights: LoadedWeights;
}

/**
 * `views`: F32 tensors as views of `bytes`, not copies (readWeights' third argument), for a caller
 * that owns the bytes and only checks them (the Hub path of createImageClassifier).
 */
export async function readWeightFile(path: string, options: { views?: boolean } = {}): Promise<WeightFile> {
  const bytes = await readRegularFile(path, {
    code: 'BAD_WEIGHTS',
    what: 'the model file',
    limit: READ_LIMITS.weights,
    // Halving helps only a file under twice the limit.
    tooLargeHint: (size) => `the most one read can hold${size / 2 <= READ_LIMITS.weights ? '; if it holds F32 weights, converting it with --dtype f16 halves it' : ''}`,
    directoryHint: 'pass the .safetensors file in it, or convert a checkpoint folder with `webvit convert DIR -o FILE`',
    // The header first (length, then JSON): a file that is not safetensors is refused from its start.
    head: async (read, size) => {
      const header = await checkHead(read, size, path);
      notWebvit(header.__metadata__, Object.keys(header).filter((n) => n !== '__metadata__'), path);
    },
  });
  return { path, bytes, weights: await loadWeights(bytes, path, options.views === true) };
}
