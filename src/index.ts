/** webvit: Vision Transformer inference on WebGPU (browser entry). */
export { getDevice, requestDeviceFrom, featuresOf, type DeviceOptions, type DeviceFeatures } from './runtime/device.js';
export { WebvitError, type WebvitErrorCode } from './errors.js';
export { ViTModel, setDefaultTuneStore, estimateActivationBytes, parameterCount, type ForwardOptions, type ForwardResult, type LoadOptions, type GpuInput, type TopClass } from './model/vit.js';
export { parseConfig, presetConfig, shapeOf, VIT_PRESETS, MODEL_FAMILIES, LIMITS, type ViTConfig, type ViTPresetName, type ModelFamily } from './model/config.js';
export { readWeights, loadWeights, expectedTensors, type LoadedWeights } from './model/weights.js';
export { parseSafetensors } from './model/safetensors.js';
export type { PlanProfile, DispatchTiming } from './runtime/plan.js';
export { tuneKernels, memoryTuneStore, localStorageTuneStore, type TuneStore, type TuneOptions } from './runtime/tuning.js';
export type { LoadProgress } from './runtime/progress.js';
export { KERNEL_VARIANTS, DEFAULT_CHOICE, adapterDefaults, isCpuAdapter, type KernelChoice } from './kernels/registry.js';
export { ImagePreprocessor, type RgbaImage, type ImageInput } from './image/preprocessor.js';
export { parsePreprocess, defaultPreprocess, preprocessGeometry, type PreprocessConfig } from './image/preprocess.js';
export { flopsPerImage } from './model/stats.js';
export { similarity } from './model/similarity.js';
export type { AttentionExplanation, ExplainOptions, ExplainBudget } from './model/explain_budget.js';
// The web API: one call from a weights URL to labels, on this thread or in a worker (src/web/).
export { createImageClassifier } from './web/classifier.js';
export { clearModelCache, DEFAULT_CACHE } from './web/weights.js';
export type { ImageClassifier, ClassifierOptions, ClassifyOptions, Classification, ClassifierInfo, ClassifierStats, ImageExplanation, ImageSource, RgbaPixels, WebProgress, ModelSource } from './web/types.js';
export type { ClassifyProfile, StageTimes } from './web/types.js';
