import { chunk, clip, WebvitError } from '../errors.js';
import { checkOptions, isHubModel, topKOf } from './options.js';
import { ImagePreprocessor, type PreprocessorImage } from '../image/preprocessor.js';
import { ViTModel, type TopClass } from '../model/vit.js';
import { loadWeights, type LoadedWeights } from '../model/weights.js';
import { liveBuffers } from '../runtime/buffers.js';
import { adapterIdentity, getDevice } from '../runtime/device.js';
import { chunksOf } from './batching.js';
import { classifyImages } from '../model/classify.js';
import type { ClassifyProfile } from './types.js';
import { SerialQueue } from './queue.js';
import { asWebvitError, describeSource, finish, isList, isTexture, notOne, nameOf, pixelsOf, taken, valueText, type Pixels, type Wait } from './sources.js';
import { TextureRows } from './texture_rows.js';
import type { Classification, ClassifierInfo, ClassifierOptions, ClassifierStats, ClassifyOptions, ImageClassifier, ImageExplanation, ImageSource } from './types.js';
import type { ExplainRuntime } from './explain.js';
import { aborted, checkAborted, DEFAULT_IDLE_MS, download, fetchModel, IMAGE_CAP, type FetchedModel } from './weights.js';

/** What one GPU device holds for the classifier; made again after a device loss. */
interface Runtime extends ExplainRuntime {
  textures: TextureRows;
  lost?: GPUDeviceLostInfo;
}

const DEFAULT_TOP_K = 5;
const DEFAULT_MAX_BATCH = 8;
/** How long to wait for device.lost to settle after an error that a loss may have caused. */
const LOSS_SETTLE_MS = 200;
/** Bound on freeing what a lost device held (a lost device can leave promises unsettled). */
const RELEASE_MS = 2000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The classifier on this thread (the worker runs one too). Calls run one at a time, in call order
 * (SerialQueue): they share the preprocessor's band buffer, the plans' input tensors and the
 * texture, and a device loss is then handled once, between calls. To rebuild after a device loss
 * the weights are read again from Cache Storage when the file is there (a URL model), else kept
 * in memory as the file's bytes (an ArrayBuffer or Response model, or no cache).
 */
export class Engine implements ImageClassifier {
  private rt?: Runtime;
  private readonly queue = new SerialQueue();
  private disposed = false;
  /** K of the topk op in the plans: the largest topK asked so far, so one plan serves every K up to it. */
  private planK: number;
  private readonly batches = new Set<number>();
  /** Aborted by dispose() (after its grace): image downloads and <img> loads in flight end with DISPOSED. */
  private readonly stop = new AbortController();
  private readonly wait: Wait;
  private recoveries = 0;
  private calls = 0;
  private readonly maxBatch: number;

  private constructor(
    private readonly options: ClassifierOptions,
    /** The weight file again, for a rebuild after a device loss. */
    private readonly reload: () => Promise<LoadedWeights>,
    private readonly source: string,
    private readonly fromCache: boolean,
    private readonly config: LoadedWeights['config'],
  ) {
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.planK = Math.min(DEFAULT_TOP_K, config.num_classes);
    this.wait = { ms: options.idleTimeoutMs ?? DEFAULT_IDLE_MS, signal: this.stop.signal };
  }

  static async create(options: ClassifierOptions): Promise<Engine> {
    checkOptions(options);
    // The device first: without WebGPU (no navigator.gpu, no adapter, a factory that fails) this
    // fails before a byte of the weights is downloaded.
    // Bytes are copied now (fetchModel copies before its first await): the caller may transfer or
    // detach its buffer while the device starts.
    const m = options.model;
    const early = m instanceof ArrayBuffer || ArrayBuffer.isView(m) ? fetchModel(m, options, loadWeights) : undefined;
    early?.catch(() => undefined); // reported below, once the device is there (or its error first)
    const device = await untilAborted(newDevice(options), options.signal, 'while waiting for the GPU device', options.device === undefined);
    let engine: Engine;
    try {
      const fetched: Awaited<ReturnType<typeof loadModel>> = await (early ?? loadModel(options));
      const c = fetched.value.config;
      if (c.num_channels !== 1 && c.num_channels !== 3) {
        throw new WebvitError('BAD_CONFIG', `${fetched.source}: takes ${c.num_channels}-channel images; the image classifier handles 1-channel (greyscale) and 3-channel (RGB) models`);
      }
      const { model } = options;
      const url = typeof model === 'string' || model instanceof URL ? model : undefined;
      const reload = fetched.reload ?? (url !== undefined && fetched.inCache ? reloadFromCache(url, options) : reloadFromBytes(fetched.bytes, fetched.source));
      engine = new Engine(options, reload, fetched.source, fetched.fromCache, c);
      engine.rt = await engine.build(fetched.value, device);
    } catch (e) {
      if (options.device === undefined) device.destroy();
      throw e;
    }
    if (options.signal?.aborted) {
      await engine.dispose();
      checkAborted(options.signal, 'while the model compiled');
    }
    return engine;
  }

  get info(): ClassifierInfo {
    const rt = this.rt;
    const m = rt?.model;
    const kernels: Record<number, Record<string, string>> = {};
    for (const b of [1, ...this.batches]) {
      const k = m?.kernels(b);
      if (k) kernels[b] = k;
    }
    const d = this.options.device;
    // Copies: an app that edits what it was given (info.config.num_classes = 99) changes nothing here.
    return {
      config: { ...this.config },
      labels: Array.from({ length: this.config.num_classes }, (_, i) => this.label(i)),
      preprocess: (m?.preprocess && structuredClone(m.preprocess)) as ClassifierInfo['preprocess'],
      adapter: rt ? adapterIdentity(rt.device).description : 'none (disposed)',
      kernels,
      maxBatch: this.maxBatch,
      source: this.source,
      fromCache: this.fromCache,
      worker: false,
      device: d === undefined ? 'webvit' : typeof d === 'function' ? 'factory' : 'app',
      recoveries: this.recoveries,
    };
  }

  classify(source: ImageSource, options?: ClassifyOptions): Promise<Classification[]>;
  classify(sources: ImageSource[], options?: ClassifyOptions): Promise<Classification[][]>;
  classify(sources: ImageSource | ImageSource[], options?: ClassifyOptions): Promise<Classification[] | Classification[][]> {
    const many = isList(sources);
    let k: number | undefined;
    return this.call(
      many ? sources : [sources],
      async (list) => {
        const rows = await this.withRuntime((rt) => this.run(rt, list, k, false));
        const out = rows.map((r) => r.top!);
        return many ? out : out[0];
      },
      () => (k = this.topK(options, 'classify')),
    );
  }

  /**
   * classify's and profile's K: topK (checked), else 5 (or every class, if fewer); undefined for
   * profile on a features-only model, which refuses a topK (it was ignored), as classify refuses the call.
   */
  private topK(options: ClassifyOptions | undefined, where: string): number | undefined {
    const n = this.config.num_classes;
    const k = topKOf(options, where);
    if (!n && (k !== undefined || where == 'classify')) throw new WebvitError('BAD_INPUT', `${this.source}: this model has no classifier (num_classes 0); use embed() for its features`);
    return n ? checkTopK(k ?? Math.min(DEFAULT_TOP_K, n), n) : undefined;
  }

  embed(source: ImageSource): Promise<Float32Array>;
  embed(sources: ImageSource[]): Promise<Float32Array[]>;
  embed(sources: ImageSource | ImageSource[], options?: object): Promise<Float32Array | Float32Array[]> {
    const many = isList(sources);
    return this.call(
      many ? sources : [sources],
      async (list) => {
        const rows = await this.withRuntime((rt) => this.run(rt, list, undefined, true));
        const out = rows.map((r) => r.features!);
        return many ? out : out[0];
      },
      () => topKOf(options, 'embed', []),
    );
  }

  profile(source: ImageSource, options?: ClassifyOptions): Promise<ClassifyProfile & { top: Classification[] }> {
    if (isList(source)) return notOne();
    let k: number | undefined;
    return this.call(
      [source],
      ([source]) =>
      this.withRuntime(async (rt) => {
        if (k !== undefined && k > this.planK) this.planK = k;
        const name = 'the image';
        // Imported on the first profile(): a page that only classifies does not load it.
        const { profileImage } = await chunk(import('./profile.js'));
        const p = await profileImage(rt, () => pixelsOf(source, name, this.get, this.wait, sized(rt, name)), (px) => gpuImage(rt, px, name), k && this.planK).finally(() => rt.textures.trim());
        return { ...p, top: this.classes(p.top ?? [], k ?? 0) };
      }),
      () => (k = this.topK(options, 'profile')),
    );
  }

  explain(source: ImageSource, options?: object): Promise<ImageExplanation> {
    if (isList(source)) return notOne();
    return this.call(
      [source],
      ([source]) =>
      this.withRuntime(async (rt) => {
        const name = 'the image';
        const px = await pixelsOf(source, name, this.get, this.wait, sized(rt, name));
        if (px.kind === 'texture') await rt.textures.checkDevice(px.texture, name);
        try {
          // Imported on the first explain(), with the on-demand chunk (src/on_demand.ts).
          const { explainImage } = await chunk(import('../on_demand.js'));
          return await explainImage(rt, () => gpuImageOrFallback(rt, px, name), name);
        } finally {
          px.close?.();
          rt.textures.trim();
        }
      }),
      () => topKOf(options, 'explain', []),
    );
  }

  async stats(): Promise<ClassifierStats> {
    // Once dispose() is called, its outcome, as in the worker: nothing held, and the calls made.
    await this.disposing;
    const rt = this.rt;
    if (!rt) return { buffers: 0, bytes: 0, textures: 0, textureBytes: 0, calls: this.calls };
    const b = liveBuffers(rt.device);
    const t = rt.textures.held;
    return { buffers: b.buffers, bytes: b.bytes, textures: t.textures, textureBytes: t.bytes, calls: this.calls };
  }

  dispose(): Promise<void> {
    // Every caller waits for the same release (a second dispose() does not return early).
    this.disposing ??= this.release();
    return this.disposing;
  }

  private disposing?: Promise<void>;

  private async release(): Promise<void> {
    this.disposed = true;
    // The calls made before run, but wait no longer than the grace for a dripping download or a stalled <img>.
    await finish(this.queue.idle(), this.stop);
    const rt = this.rt;
    this.rt = undefined;
    if (!rt) return;
    await release(rt);
    // Only a device webvit made is destroyed; the app's (or its factory's) keeps working.
    if (this.options.device === undefined) rt.device.destroy();
  }

  /** The first `k` of an image's top classes, labelled (`class N` where the file has no labels). */
  private classes(top: TopClass[], k: number): Classification[] {
    return top.slice(0, k).map((t) => ({ label: this.label(t.index), score: t.p, index: t.index }));
  }

  private label(i: number): string {
    return this.labels?.[i] ?? `class ${i}`;
  }

  private labels?: string[];

  /** An image given by URL, downloaded as a model is (the idle timeout; no progress, no cache). */
  private readonly get = (url: string, name: string) => download(url, { fetch: this.options.fetch, idleTimeoutMs: this.options.idleTimeoutMs, signal: this.stop.signal }, `${name}: could not fetch`, '', `${clip(url)} (${name})`, IMAGE_CAP);

  /**
   * Queues `fn` with the call's sources as they are now (taken); whatever it throws reaches the app
   * as a WebvitError. `check` (the call's options) runs first, at the call: its error is the call's.
   */
  private call<T>(sources: ImageSource[], fn: (list: ImageSource[]) => Promise<T>, check: () => unknown): Promise<T> {
    let list: ImageSource[];
    try {
      check();
      if (this.disposed) throw new WebvitError('DISPOSED', 'the classifier was disposed; create a new one');
      list = taken(sources);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.queue
      .run(async () => {
        if (this.disposed && !this.rt) throw new WebvitError('DISPOSED', 'the classifier was disposed; create a new one');
        const r = await fn(list);
        this.calls++;
        return r;
      })
      .catch((e) => {
        throw destroyedTexture(asWebvitError(e), list);
      });
  }

  /** Runs `fn` on a live runtime; if the device was lost during it, once more on a new one. */
  private async withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
    const rt = await this.current();
    try {
      return await fn(rt);
    } catch (e) {
      if (refusedSource.has(e as object) || !(await wasLost(rt))) throw e;
      return fn(await this.current());
    }
  }

  /** The runtime, rebuilt first when its device was lost. */
  private async current(): Promise<Runtime> {
    const rt = this.rt;
    if (rt && !rt.lost) return rt;
    if (rt) {
      this.rt = undefined;
      this.lost = { device: rt.device, info: rt.lost! };
      await release(rt);
    }
    if (this.disposed) throw new WebvitError('DISPOSED', 'the classifier was disposed; create a new one');
    const lost = this.lost;
    if (lost && this.options.device !== undefined && typeof this.options.device !== 'function') {
      // Every later call says so too: the app's device cannot come back.
      throw new WebvitError(
        'DEVICE_LOST',
        `the GPU device passed to createImageClassifier was lost (${lost.info.reason}${lost.info.message ? `: ${lost.info.message}` : ''}); webvit cannot replace a device it was given. ` +
          'Create a new classifier with a new device, or pass `device: () => adapter.requestDevice(...)` (a function) so webvit can ask for a new one itself',
      );
    }
    const weights = await this.reload();
    this.rt = await this.build(weights, await newDevice(this.options, lost?.device));
    if (lost) this.recoveries++;
    this.lost = undefined;
    return this.rt;
  }

  /** The device lost last, and why (until a new runtime is built). */
  private lost?: { device: GPUDevice; info: GPUDeviceLostInfo };

  private async build(weights: LoadedWeights, device: GPUDevice): Promise<Runtime> {
    this.labels = weights.labels;
    const onProgress = this.options.onProgress;
    const model = await ViTModel.fromWeights(device, weights, {
      label: 'webvit',
      batch: 1,
      topK: this.config.num_classes > 0 ? this.planK : undefined,
      tune: this.options.tune,
      onProgress: onProgress && ((e) => onProgress({ stage: e.stage, done: e.done, total: e.total, detail: e.detail })),
    });
    const rt: Runtime = { device, model, pre: new ImagePreprocessor(device, model.preprocess, 'webvit.preprocess'), textures: new TextureRows(device) };
    device.lost.then((info) => (rt.lost = info));
    return rt;
  }

  /** Top classes (or features) of each source, in passes of at most maxBatch images: the one classify loop (src/model/classify.ts) with the page's rules. */
  private async run(rt: Runtime, list: ImageSource[], k: number | undefined, features: boolean): Promise<{ top?: Classification[]; features?: Float32Array }[]> {
    if (k !== undefined && k > this.planK) this.planK = k;
    const passes = chunksOf(list.length, this.maxBatch);
    const name = (i: number) => nameOf(i, list.length, features ? 'embed: ' : '');
    const rows = await classifyImages<Pixels[]>({
      model: rt.model,
      pre: rt.pre,
      passes,
      topK: this.config.num_classes > 0 ? this.planK : undefined,
      features,
      errors: 'call',
      name,
      // Every source of the pass is made ready (Blobs decoded) before the GPU work starts, so a
      // bad one fails the call before anything is queued.
      open: async (pass) => {
        this.batches.add(pass.batch);
        const names = Array.from({ length: pass.count }, (_, j) => name(pass.start + j));
        const settled = await Promise.allSettled(names.map((n, j) => pixelsOf(list[pass.start + j], n, this.get, this.wait, sized(rt, n))));
        const pixels = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        try {
          const bad = settled.find((s) => s.status === 'rejected');
          if (bad) throw (bad as PromiseRejectedResult).reason;
          pixels.forEach((px, j) => px.kind !== 'memory' && rt.textures.check(px.kind === 'texture' ? px.texture : px, names[j]));
          for (const [j, px] of pixels.entries()) if (px.kind === 'texture') await rt.textures.checkDevice(px.texture, names[j]);
        } catch (e) {
          if (typeof e === 'object' && e !== null) refusedSource.add(e);
          closeAll(rt, pixels);
          throw e;
        }
        return pixels;
      },
      image: (i, pixels, j) => gpuImageOrFallback(rt, pixels[j], name(i)),
      close: (pixels) => closeAll(rt, pixels),
    });
    return rows.map((r) => ({ top: k === undefined ? undefined : this.classes(r.top!, k), features: r.features }));
  }
}

function closeAll(rt: Runtime, pixels: Pixels[]): void {
  for (const p of pixels) p.close?.();
  rt.textures.trim();
}

/**
 * A texture the app destroyed before (or while) the call used it: WebGPU cannot be asked whether a
 * texture is destroyed, and only the submit that reads it fails ("Destroyed texture ... used in a
 * submit"), as a validation error of the forward pass. That is the app's input, not the GPU's fault.
 */
function destroyedTexture(e: WebvitError, list: ImageSource[]): WebvitError {
  if (e.code !== 'GPU' || !/destroyed texture/i.test(e.message) || !list.some(isTexture)) return e;
  return new WebvitError('BAD_INPUT', `${list.length === 1 ? 'the image' : 'an image'}: the GPUTexture was destroyed before webvit read it; keep it alive until the call's promise settles`, { cause: e });
}

/** webvit's own device, or the app's (its factory called again after a loss). */
async function newDevice(options: ClassifierOptions, lost?: GPUDevice): Promise<GPUDevice> {
  const d = options.device;
  if (d === undefined) return getDevice();
  const device = typeof d === 'function' ? await d() : d;
  if (!device || typeof (device as GPUDevice).createBuffer !== 'function') {
    throw new WebvitError('BAD_ARGUMENT', `device must be a GPUDevice or a function returning one, got ${describeSource(device)}`);
  }
  if (device === lost) throw new WebvitError('DEVICE_LOST', 'the device function returned the device that was just lost; it must request a new one (adapter.requestDevice())');
  // A device already lost (destroyed) would fail only at the first call, after the download and
  // the compile. Its lost promise has settled by the time a round trip to the GPU returns.
  const gone = await Promise.race([device.lost, device.queue.onSubmittedWorkDone().then(noLoss, noLoss)]);
  if (gone) {
    const whose = typeof d === 'function' ? 'the device function returned' : 'passed to createImageClassifier';
    throw new WebvitError('DEVICE_LOST', `the GPU device ${whose} is already lost (${gone.reason}${gone.message ? `: ${clip(gone.message)}` : ''}); pass a live one (adapter.requestDevice())`);
  }
  return device;
}

const noLoss = (): undefined => undefined;

/**
 * `p`, or ABORTED once `signal` fires (an app's device function that never settles held
 * createImageClassifier past its signal). A device that arrives after the abort is destroyed
 * when it is webvit's own.
 */
function untilAborted(p: Promise<GPUDevice>, signal: AbortSignal | undefined, when: string, own: boolean): Promise<GPUDevice> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    const stop = () => reject(aborted(signal, when));
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    p.then(
      (d) => {
        signal.removeEventListener('abort', stop);
        if (signal.aborted && own) d.destroy();
        resolve(d);
      },
      (e) => {
        signal.removeEventListener('abort', stop);
        reject(e);
      },
    );
  });
}

/**
 * The weights: a model id through the Hub loader (its on-demand chunk: the converter), else the
 * webvit file by URL, bytes or Response.
 */
async function loadModel(options: ClassifierOptions): Promise<FetchedModel<LoadedWeights> & { reload?: () => Promise<LoadedWeights> }> {
  if (!isHubModel(options)) return fetchModel(options.model, options, loadWeights);
  return (await chunk(import('../on_demand.js'))).loadHubModel(options);
}

// Made in functions of their own so that each closure holds only what it names (not the parsed
// weights of the first load, nor the bytes when the cache has them).
function reloadFromCache(url: string | URL, options: ClassifierOptions): () => Promise<LoadedWeights> {
  // Not the create's signal: aborting a create that succeeded must not break a later recovery.
  return async () => (await fetchModel(url, { ...options, onProgress: undefined, signal: undefined }, loadWeights)).value;
}

function reloadFromBytes(bytes: Uint8Array, source: string): () => Promise<LoadedWeights> {
  return () => loadWeights(bytes, source);
}

/** gpuImage, or when the direct copy fails and the source has one, its ImageBitmap fallback (closed after its copy). */
async function gpuImageOrFallback(rt: Runtime, px: Pixels, name: string): Promise<PreprocessorImage> {
  try {
    return gpuImage(rt, px, name);
  } catch (e) {
    if (px.kind !== 'external' || !px.fallback) throw e;
    const b = await px.fallback();
    try {
      return rt.textures.upload({ source: b, width: b.width, height: b.height }, name);
    } finally {
      b.close(); // copyExternalImageToTexture has taken the pixels (queue order)
    }
  }
}

function gpuImage(rt: Runtime, px: Pixels, name: string): PreprocessorImage {
  if (px.kind === 'memory') return px.image;
  if (px.kind === 'texture') return rt.textures.fromTexture(px.texture, name);
  return rt.textures.upload(px, name);
}

/** Refuses a file's size from its header as the upload would (rt.textures.check), before it is decoded. */
const sized = (rt: Runtime, name: string) => (width: number, height: number) => rt.textures.check({ source: null!, width, height }, name);

/** Errors about a source itself, raised before any GPU work: no device loss can have caused them. */
const refusedSource = new WeakSet<object>();

/** Whether `rt`'s device is lost, giving device.lost a moment to settle (an error from the loss can come first). */
async function wasLost(rt: Runtime): Promise<boolean> {
  if (rt.lost) return true;
  await Promise.race([rt.device.lost, sleep(LOSS_SETTLE_MS)]);
  return rt.lost !== undefined;
}

async function release(rt: Runtime): Promise<void> {
  rt.textures.dispose();
  rt.explainInput?.owner.destroyAll();
  await Promise.race([Promise.all([rt.pre.dispose(), rt.model.dispose()]).catch(() => undefined), sleep(RELEASE_MS)]);
}

export function checkTopK(k: number, classes: number): number {
  if (!Number.isInteger(k) || k < 1 || k > classes) throw new WebvitError('BAD_INPUT', `topK must be a whole number from 1 to the model's ${classes} classes, got ${valueText(k)}`);
  return k;
}
