/** webvit for Node: the browser API plus Dawn devices and file loading. */
import { readWeightFile } from './model/weight_file.js';
import { ViTModel, type LoadOptions } from './model/vit.js';

import { setDefaultTuneStore } from './model/vit.js';
import { fileTuneStore } from './runtime/node-tune-store.js';
import { setDeviceFallback } from './runtime/device.js';
import { getNodeDevice } from './runtime/node-device.js';
import { registerAllOps } from './kernels/all_ops.js';

export * from './index.js';

// Node fetches nothing late: the family ops the browser loads on demand are registered now.
registerAllOps();
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
