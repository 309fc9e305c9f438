/** webvit for Node: the browser API plus Dawn devices and file loading. */
import { readFile } from 'node:fs/promises';
import { WebvitError } from './runtime/errors.js';
import { ViTModel, type LoadOptions } from './model/vit.js';

import { setDefaultTuneStore } from './model/vit.js';
import { fileTuneStore } from './runtime/node-tune-store.js';

export * from './index.js';
export { getNodeDevice } from './runtime/node-device.js';
export { fileTuneStore, defaultTuneCachePath } from './runtime/node-tune-store.js';
export { readCheckpoint, readLabelsFile } from './model/convert/files.js';

// In Node, kernel tuning results persist in a cache file (WEBVIT_CACHE_DIR or ~/.cache/webvit).
setDefaultTuneStore(fileTuneStore());

/** Reads a webvit weight file from disk and loads it onto `device`. */
export async function loadModelFile(device: GPUDevice, path: string, options: LoadOptions = {}): Promise<ViTModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new WebvitError('BAD_WEIGHTS', `${path}: cannot read the weight file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return ViTModel.load(device, bytes, { ...options, source: path });
}
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodedImage, type DecodeOptions } from './image/decode.js';
