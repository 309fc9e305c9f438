import { chunk, WebvitError } from '../errors.js';
import { Engine } from './engine.js';
import { checkOptions, isolated, readOptions } from './options.js';
import { asWebvitError, why } from './sources.js';
import type { ClassifierOptions, ImageClassifier } from './types.js';
import { checkAborted } from './weights.js';

/**
 * An image classifier for a web page: loads the weight file (download with progress, integrity
 * check, Cache Storage), compiles the model on a WebGPU device, and classifies images, canvases
 * and video frames, on this thread or (`worker: true`) in a Web Worker.
 *
 *   const clf = await createImageClassifier({ model: '/models/model.safetensors' });
 *   const [top] = await clf.classify(document.querySelector('img'));  // { label, score, index }
 */
export async function createImageClassifier(options: ClassifierOptions): Promise<ImageClassifier> {
  try {
    try {
      options = readOptions(options);
      checkOptions(options);
    } catch (e) {
      // A hostile value (a Proxy's trap) that throws while checked.
      throw e instanceof WebvitError ? e : new WebvitError('BAD_ARGUMENT', `the options could not be checked (${why(e)})`);
    }
    if (options.onProgress) options = { ...options, onProgress: isolated(options.onProgress) };
    checkAborted(options.signal, 'before it started');
    if (options.worker !== undefined && options.worker !== false) {
      // Neither can be sent to a worker, which makes its own device and has its own fetch and Cache Storage.
      if (options.device !== undefined || options.fetch || options.caches) {
        throw new WebvitError('BAD_ARGUMENT', 'createImageClassifier: `device`, `fetch` and `caches` cannot go to a worker (it has its own); leave them out, or run without worker');
      }
      // The caller's bytes are copied now, at the call (as on the page): they may be transferred
      // or reused while the worker's code loads.
      const m = options.model;
      if (m instanceof ArrayBuffer || ArrayBuffer.isView(m)) options = { ...options, model: copyBytes(m) };
      // Imported when a classifier runs in a worker: a page that classifies on its thread does not load it (src/on_demand.ts).
      const { WorkerClassifier } = await chunk(import('../on_demand.js'));
      return await WorkerClassifier.create(options);
    }
    return await Engine.create(options);
  } catch (e) {
    throw asWebvitError(e);
  }
}

/** A copy of the caller's bytes; a detached buffer as it is (fetchModel names it). */
function copyBytes(m: ArrayBuffer | ArrayBufferView): ArrayBuffer | ArrayBufferView {
  try {
    return m instanceof ArrayBuffer ? m.slice(0) : new Uint8Array(m.buffer, m.byteOffset, m.byteLength).slice();
  } catch {
    return m;
  }
}
