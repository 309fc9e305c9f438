import type { ViTConfig } from '../model/config.js';
import type { PreprocessConfig } from '../image/preprocess.js';
import type { TuneStore } from '../runtime/tuning.js';
import type { DispatchTiming, PlanProfile } from '../runtime/plan.js';

/** Where a model's bytes come from: a URL (fetched, kept in Cache Storage), bytes, or a Response. */
export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView | Response;

/**
 * An image the classifier takes. DOM sources (img, canvas, video, ImageBitmap, VideoFrame) go to
 * the GPU as a texture (copyExternalImageToTexture, unpremultiplied, no colour conversion);
 * ImageData (or any `{ data, width, height }` of 8-bit RGBA) is uploaded as it is; a Blob, File
 * or URL is decoded by the browser (createImageBitmap) first. A GPUTexture (rgba8unorm, with
 * TEXTURE_BINDING usage, on the classifier's device) is read where it is.
 */
export type ImageSource =
  | ImageBitmap
  | ImageData
  | RgbaPixels
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLVideoElement
  | VideoFrame
  | Blob
  | string
  | URL
  | GPUTexture;

/** 8-bit RGBA pixels, row-major, width × height × 4 bytes (what ImageData holds). */
export interface RgbaPixels {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

/** One class of one image, most probable first. */
export interface Classification {
  /** The model's label, or `class N` when the weight file has none. */
  label: string;
  /** Softmax probability. */
  score: number;
  /** Class index. */
  index: number;
}

/** Progress while the classifier is made (and when a new batch size compiles kernels). */
export interface WebProgress {
  /**
   * download: bytes (`total` when the server said; for a model id, `detail` names the repository
   * file); convert: a model id's checkpoint being converted (done 0 of 1, then 1); compile / tune: kernels.
   */
  stage: 'download' | 'convert' | 'compile' | 'tune';
  done: number;
  total?: number;
  /** The download is read from Cache Storage. */
  fromCache?: boolean;
  detail?: string;
}

export interface ClassifierOptions {
  /**
   * The model: a Hugging Face Hub id (`google/vit-base-patch16-224`, `org/name@revision`,
   * `hf:name`; docs/model-ids.md), fetched and converted in the page (or the worker) and kept
   * converted in Cache Storage; or a webvit weight file: a URL (downloaded with progress and kept
   * in Cache Storage), bytes, or a Response. A string of the form `org/name` with no file extension
   * is read as an id; write `./org/name` for a relative URL of that form.
   */
  model: ModelSource;
  /** A model id's branch, tag or commit (default `main`; `id@revision` says the same). */
  revision?: string;
  /** Where model ids are fetched from (default https://huggingface.co; a mirror or a self-hosted copy of the Hub's file layout). */
  hubUrl?: string;
  /** An access token for gated or private models, sent to hubUrl only (never to the CDN it redirects to). */
  token?: string;
  /**
   * A model id's weights after conversion: 'f32' (default), 'f16' (half the Cache Storage, the same
   * GPU kernels), or 'int8' / 'q4' (matmul weights quantised: about a quarter / an eighth of f32;
   * docs/quantization.md).
   */
  dtype?: 'f32' | 'f16' | 'int8' | 'q4';
  /**
   * The GPU device: omitted, webvit asks navigator.gpu for one (and makes a new one after a device
   * loss). A GPUDevice of the app's is used as it is and left working by dispose(); if it is lost,
   * calls fail with DEVICE_LOST. A function returning a device (the app's factory) is called
   * again after a loss, so webvit can recover on the app's terms.
   */
  device?: GPUDevice | (() => GPUDevice | Promise<GPUDevice>);
  onProgress?: (e: WebProgress) => void;
  /**
   * Run in a Web Worker: `true` (dist/webvit.worker.js next to the bundle), the worker script's
   * URL, or a Worker already started on it. The page's thread then only turns sources into
   * transferable ImageBitmaps / VideoFrames. Cannot be combined with `device`.
   */
  worker?: boolean | string | URL | Worker;
  /** SRI-style hash of the weight file ("sha256-<base64>"); a file that does not match is refused. */
  integrity?: string;
  /** Cache Storage cache for downloaded weights (default "webvit-models"), or false for none. */
  cache?: string | false;
  /**
   * Images per forward pass for arrays (default 8). A single image runs at batch 1; an array runs
   * in passes of maxBatch images (a shorter pass padded with zeros), so only two plans are ever
   * compiled and kept, whatever the array lengths. On a CPU adapter (SwiftShader, lavapipe) padding
   * costs time in proportion: use a smaller maxBatch there.
   */
  maxBatch?: number;
  /** Kernel tuning, as LoadOptions.tune (default: cached choices or the adapter's defaults, no tuning). */
  tune?: boolean | TuneStore;
  /** fetch for the model URL and URL sources (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Cache Storage to use (default globalThis.caches). */
  caches?: CacheStorage;
  /**
   * Stops createImageClassifier (in worker mode too): the download is cancelled and nothing is
   * cached; once the model is compiled, the classifier is disposed. It then rejects with ABORTED.
   */
  signal?: AbortSignal;
  /**
   * A download (the model, or an image given by URL) that receives no bytes for this many
   * milliseconds fails with NETWORK (default 30 000; 0: never).
   */
  idleTimeoutMs?: number;
}

export interface ClassifyOptions {
  /** Classes per image, most probable first (default 5, at most the model's classes). */
  topK?: number;
}

export interface ClassifierInfo {
  config: ViTConfig;
  /** Class names (`class N` where the file has none); empty for a features-only model. */
  labels: string[];
  preprocess: PreprocessConfig;
  /** The adapter, as one line (vendor / architecture / device / description). */
  adapter: string;
  /** Kernel variant chosen per matmul shape and for attention, per batch size built so far. */
  kernels: Record<number, Record<string, string>>;
  maxBatch: number;
  /** Where the weights came from: URL, "the model bytes". */
  source: string;
  fromCache: boolean;
  worker: boolean;
  /** Who made the device: webvit (recreated after a loss), the app's factory, or the app (not recreated). */
  device: 'webvit' | 'factory' | 'app';
  /** Times the device was lost and the model rebuilt. */
  recoveries: number;
}

/** One image's explanation (ImageClassifier.explain). Maps are grid·grid, row-major, raw (not scaled). */
export interface ImageExplanation {
  /** Patches per side. */
  grid: number;
  /** Attention rollout: from the class token, or the mean over patch queries for a mean-pooled model. */
  rollout: Float32Array;
  /** [layers] each layer's head-averaged attention, the same row(s) as the rollout. */
  layers: Float32Array[];
  /** [layers][heads] mean attention distance in pixels. */
  distance: Float32Array[];
  /** What the maps are, in words. */
  source: string;
  /** The preprocessing's crop as the model saw it: a map covers this square of the resized image. */
  imageSize: number;
}

/** GPU memory webvit holds now: what must stay flat over repeated classifications. */
export interface ClassifierStats {
  buffers: number;
  bytes: number;
  textures: number;
  textureBytes: number;
  /** Calls served so far (classify and embed). */
  calls: number;
}

export interface ImageClassifier {
  // The array forms come first: were ImageSource ever `any` (an app whose skipLibCheck hides a
  // missing GPUTexture), an array must still pick them.
  /** Several images, run as one batch: the top K classes of each, in order. */
  classify(sources: readonly ImageSource[], options?: ClassifyOptions): Promise<Classification[][]>;
  /** One image: its top K classes. */
  classify(source: ImageSource, options?: ClassifyOptions): Promise<Classification[]>;
  /** The pooled features (after the final layer norm) of each image, or of one image. */
  embed(sources: readonly ImageSource[]): Promise<Float32Array[]>;
  embed(source: ImageSource): Promise<Float32Array>;
  /**
   * One image classified with a wait after each stage: per-stage times (decode, upload,
   * preprocess, forward, readback) and per-dispatch GPU times. Slower than classify (nothing
   * overlaps); for a demo or a report, not for serving.
   */
  profile(source: ImageSource, options?: ClassifyOptions): Promise<ClassifyProfile & { top: Classification[] }>;
  /**
   * What the model looked at in one image (docs/explain.md): the attention rollout over its patch
   * grid, each layer's head-averaged attention map with the same row selection, and each layer's
   * per-head mean attention distance, computed on the GPU by ViTModel.explain.
   */
  explain(source: ImageSource): Promise<ImageExplanation>;
  readonly info: ClassifierInfo;
  /** Live GPU buffers and textures, and the calls made; after dispose(), zeros and the calls. */
  stats(): Promise<ClassifierStats>;
  /** Frees webvit's GPU memory (after calls in flight); a device the app passed in keeps working. */
  dispose(): Promise<void>;
}

/**
 * Milliseconds per stage of one image's classification, each stage waited for on the GPU before
 * the next starts (so they add up, and the whole is slower than a plain classify, which overlaps
 * them in one queue):
 * - decode: the source made ready on this thread (a Blob or URL decoded to an ImageBitmap; DOM
 *   images and bitmaps are taken as they are);
 * - upload: its pixels copied to a GPU texture (copyExternalImageToTexture), wall time to done;
 *   RGBA pixels in memory (ImageData) are uploaded by the preprocessor, so they count there;
 * - preprocess: texture rows to the band buffer, resize, crop and normalise into the model's
 *   input tensor, wall time to done;
 * - forward: the model's dispatches, the sum of their GPU times (`method` says how measured);
 * - readback: the rest of the forward call (copying the top-K out, mapping, reading; submit overhead).
 */
export interface StageTimes {
  decode: number;
  upload: number;
  preprocess: number;
  forward: number;
  readback: number;
}

/** One image's classification timed by stage and by dispatch (ImageClassifier.profile). */
export interface ClassifyProfile {
  stages: StageTimes;
  /** How dispatch times were taken: GPU timestamps, or submit-and-wait per dispatch. */
  method: PlanProfile['method'];
  /** Every dispatch of the forward pass: label (block and op), kernel ("op/variant"), ms. */
  dispatches: DispatchTiming[];
  /** Sum of the dispatches' ms (the forward stage). */
  totalMs: number;
}
