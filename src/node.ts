/** webvit for Node: the browser API plus Dawn devices and file loading. */
import { readWeightFile } from './model/weight_file.js';
import { ViTModel, type LoadOptions } from './model/vit.js';

import { setDefaultTuneStore } from './model/vit.js';
import { fileTuneStore } from './runtime/node-tune-store.js';
import { setDeviceFallback } from './runtime/device.js';
import { getNodeDevice } from './runtime/node-device.js';
import { registerAllOps } from './kernels/all_ops.js';
import { useQuantReader } from './model/weights.js';
import { readQuantized } from './model/quant_weights.js';
import { createImageClassifier as createWebClassifier } from './web/classifier.js';
import { modelSourceKind } from './hub/source.js';
import { handedOver } from './web/weights.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkedHubModel } from './web/hub.js';
import { hubEnv } from './hub/node_cache.js';
import { hubModelFile } from './hub/node_model.js';
import { WebvitError } from './errors.js';
import type { ClassifierOptions, ImageClassifier } from './web/types.js';

export * from './index.js';

// Node fetches nothing late: the family ops the browser loads on demand are registered now.
registerAllOps();
// So is the reader of quantised (int8/q4) weight files: readWeights reads them synchronously.
useQuantReader(readQuantized);
export { getNodeDevice, type NodeDeviceOptions } from './runtime/node-device.js';
export { fileTuneStore, defaultTuneCachePath } from './runtime/node-tune-store.js';
export { readCheckpoint, readLabelsFile } from './model/convert/files.js';
// Checkpoint conversion (timm, torchvision, Hugging Face) is a Node-side step (`webvit convert`): it
// is 26 KB of the minified browser bundle, which pages that load converted weights do not need.
export { convertCheckpoint, detectLayout, type Checkpoint, type ConvertOptions, type Converted } from './model/convert/index.js';
export { readWeightFile, type WeightFile } from './model/weight_file.js';
// topK on the CPU: in a browser, forward(x, { topK }) ranks on the GPU and the classifier returns
// labelled classes; this helper costs the browser bundle's budget for what those already do.
export { topK } from './model/topk.js';
// Writing weight files (what `webvit convert` does) is Node-side too.
export { writeSafetensors } from './model/safetensors_write.js';
export { encodeWeights, type OutputDtype } from './model/convert/core.js';
// Explain's memory budget as a function, and the architectures of other families for benchmarks:
// Node-side (a page calls explain() and gets the budget's error if it is over).
export { explainLimits, EXPLAIN_MAX_BYTES } from './model/explain_budget.js';
export { FAMILY_PRESETS } from './model/family_presets.js';
// The model-only analyses of the ViT paper's section 4.5 (docs/explain.md), from the weights on the
// CPU. Node entry only: they would add 1.7 KB (gzipped) to a browser bundle that is at its 60 KB
// budget (test/package/bundle_size.test.ts), and the page's attention overlay does not need them.
export { positionSimilarity, patchFilterComponents, type ModelWeights, type PositionSimilarity, type FilterComponents } from './model/analysis.js';

// In Node, kernel tuning results persist in a cache file (WEBVIT_CACHE_DIR or ~/.cache/webvit),
// and getDevice() (so createImageClassifier without `device`) gets its device from Dawn.
setDefaultTuneStore(fileTuneStore());
setDeviceFallback(getNodeDevice);

/** Reads a webvit weight file from disk and loads it onto `device`. */
export async function loadModelFile(device: GPUDevice, path: string, options: LoadOptions = {}): Promise<ViTModel> {
  const { weights } = await readWeightFile(path);
  return ViTModel.fromWeights(device, weights, options);
}
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodedImage, type DecodeOptions } from './image/decode.js';

/**
 * createImageClassifier for Node: as in a page, and a model given by Hugging Face Hub id goes
 * through the Hugging Face cache and webvit's converted-model cache on disk (docs/model-ids.md:
 * HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE as in Python; `hubUrl` and `token`
 * override the environment), so a second run downloads and converts nothing.
 */
export async function createImageClassifier(options: ClassifierOptions): Promise<ImageClassifier> {
  const kind = typeof options == 'object' && options !== null ? modelSourceKind(options.model, existsSync) : undefined;
  if (kind == 'path') {
    // A local webvit file (as `webvit classify --model FILE` reads it), its bytes then as in a page.
    const m = options.model as string | URL;
    const path = m instanceof URL || m.startsWith('file:') ? fileURLToPath(m) : m;
    return createWebClassifier({ ...options, model: await ownBytes(path) });
  }
  if (kind != 'id') return createWebClassifier(options);
  const { id, revision } = checkedHubModel(options);
  const { hubUrl, token, dtype, signal, onProgress, model: _id, revision: _rev, ...rest } = options;
  const env = await hubEnv();
  if (hubUrl !== undefined) env.hubUrl = hubUrl.replace(/\/+$/, '');
  if (token !== undefined) env.token = token;
  if (rest.worker !== undefined && rest.worker !== false) throw new WebvitError('BAD_ARGUMENT', 'worker: Node has no Web Workers; leave worker out');
  const file = await hubModelFile(id, {
    revision,
    dtype,
    env,
    signal,
    onProgress: (e) => {
      if (e.stage === 'download') onProgress?.({ stage: 'download', done: e.done, total: e.total, detail: e.file });
      else if (e.stage === 'convert') onProgress?.({ stage: 'convert', done: 0, total: 1, detail: id });
    },
  });
  // Checked here (messages name the file) over views of the bytes: no copy of the weights beside them.
  const bytes = await ownBytes(file.path);
  return createWebClassifier({ ...rest, signal, onProgress, model: bytes });
}

/** A webvit file's bytes (checked as every load checks them), handed to the classifier without a copy. */
async function ownBytes(path: string): Promise<Uint8Array> {
  const { bytes } = await readWeightFile(path, { views: true });
  handedOver.add(bytes);
  return bytes;
}
