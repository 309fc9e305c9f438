import { WebvitError } from '../errors.js';
import { Engine } from './engine.js';
import type { ClassifierOptions, ImageClassifier } from './types.js';
import { WorkerClassifier } from './worker_client.js';

/**
 * An image classifier for a web page: loads the weight file (download with progress, integrity
 * check, Cache Storage), compiles the model on a WebGPU device, and classifies images, canvases
 * and video frames, on this thread or (`worker: true`) in a Web Worker.
 *
 *   const clf = await createImageClassifier({ model: '/models/model.safetensors' });
 *   const [top] = await clf.classify(document.querySelector('img'));  // { label, score, index }
 */
export async function createImageClassifier(options: ClassifierOptions): Promise<ImageClassifier> {
  if (options?.worker !== undefined && options.worker !== false) {
    if (options.device !== undefined) {
      throw new WebvitError('BAD_ARGUMENT', 'createImageClassifier: `device` and `worker` cannot go together: a GPUDevice cannot be sent to a worker, which makes its own');
    }
    return WorkerClassifier.create(options);
  }
  return Engine.create(options);
}
