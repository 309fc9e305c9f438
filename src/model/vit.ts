import type { Binding } from '../kernels/kernel.js';
import { assignBuffers } from '../runtime/arena.js';
import { checkOptionKeys, chunk, chunkMissing, clip, mustBe, valueText, WebvitError } from '../runtime/errors.js';
import { checkDevice } from '../runtime/device.js';
import { pipelineCacheFor } from '../runtime/pipelines.js';
import { BufferOwner, bytesOf, upload } from '../runtime/buffers.js';
import { Plan, tensorLifetimes, type InputWriter, type PlanProfile } from '../runtime/plan.js';
import { shapeOf, type ViTConfig } from './config.js';
import { buildGraph, loadGraphOps } from './graph.js';
import { checkForcedKernels, type GraphKernels, type KernelChoice } from '../kernels/registry.js';
import { localStorageTuneStore, memoryTuneStore, tuneKernels, type TuneStore } from '../runtime/tuning.js';
import { declaredWeights, expectedTensors, loadWeights, type LoadedWeights } from './weights.js';
import { floatToHalf } from './safetensors.js';
import type { Precision } from '../kernels/definition.js';
import type { WeightStorage } from '../kernels/matmul/weight_read.js';
import { formatProfile, profileFromEnv } from '../runtime/profile_format.js';
import { defaultPreprocess, type PreprocessConfig } from '../image/preprocess.js';
import { firstNonFinite, imageList, inputLimit, maxAbs, nonFiniteRows } from './finite.js';
import { decodeFiniteCheck, largestPerImage, type NonFiniteValue } from '../kernels/finite_check/reference.js';
import { topk } from '../kernels/topk/op.js';
import type { Explainer } from './explain.js';
import type { AttentionExplanation, ExplainOptions } from './explain_budget.js';

export interface LoadOptions {
  /** Names GPU objects and errors; defaults to "vit". */
  label?: string;
  /** Batch size to build a plan for at load (more are built on first use). Default 1. */
  batch?: number;
  /** Build that plan with the topk op for forward(x, { topK }) (classify's); default: logits. */
  topK?: number;
  /** Force a kernel variant per op (src/kernels/registry.ts); the rest are tuned or default. */
  kernels?: KernelChoice;
  /**
   * Kernel variants per op and problem shape:
   * - omitted: a choice an earlier tune cached for this adapter and shape (in the default store:
   *   localStorage in browsers, a cache file in Node via `setDefaultTuneStore`, else memory),
   *   otherwise the adapter's defaults (each op's `tuning.preferred`, src/kernels/<op>/definition.ts;
   *   `adapterDefaults` in src/kernels/registry.ts). Never tunes,
   *   so a first load costs only the shader compiles.
   * - `true`: also tune every shape that has no cached choice (candidates validated against the
   *   portable variants, then timed; seconds per shape on CPU adapters) and cache the winners.
   * - a TuneStore: as `true`, remembered in that store.
   * - `false`: the adapter's defaults, no cache.
   */
  tune?: boolean | TuneStore;
  /**
   * Called while the load compiles kernels (stage 'compile': done/total kernels compiled and run
   * once) and tunes (stage 'tune': done/total problems timed). Also called by later forward()
   * calls at a batch size that needs a new plan.
   */
  onProgress?: (e: { stage: 'compile' | 'tune'; done: number; total: number; detail?: string }) => void;
  /**
   * 'f32' (default): float32 throughout, logits equal to PyTorch's to float32 precision.
   * 'f16' (opt-in, for speed): the matmul weights are kept as IEEE halves on the GPU (half the
   * memory and weight traffic; any adapter), and where the adapter has shader-f16 and subgroup
   * matrices (tensor cores: NVIDIA with the Dawn flags in README's GPU section) the matmuls may
   * run the sgmat_* variants, f16 operands with f32 accumulation. Activations, layernorm,
   * softmax and the accumulation stay f32. Logits move by about 1e-3 relative
   * (BENCHMARKS.md, "precision f16").
   * 'int8' / 'q4': every matmul weight (the patch embedding's too) is quantised at load
   * (src/kernels/matmul/quant.ts) and kept as codes and scales, dequantised in the matmul. A
   * file's quantised weights (LoadedWeights.quant) are kept as they are at any precision.
   */
  precision?: Precision;
}

let defaultStore: TuneStore | undefined;

/** Where tuning results go when a load does not say (the Node entry and CLI set a cache file). */
export function setDefaultTuneStore(store: TuneStore): void {
  if (!isTuneStore(store)) throw mustBe('setDefaultTuneStore: store', 'a TuneStore ({ get(key), set(key, value) }: memoryTuneStore(), fileTuneStore())', store);
  defaultStore = store;
}

/** Where choices are looked up and whether missing ones are tuned (see LoadOptions.tune). */
function tuningFor(option: LoadOptions['tune']): { store: TuneStore | undefined; tune: boolean } {
  if (option === false) return { store: undefined, tune: false };
  if (option && option !== true) return { store: option, tune: true };
  defaultStore ??= localStorageTuneStore() ?? memoryTuneStore();
  return { store: defaultStore, tune: option === true };
}

export interface ForwardOptions {
  /** Images in the input; inferred from its length (or the GPU input's batch) when omitted. */
  batch?: number;
  /** Also return the pooled features (after the final layernorm). */
  features?: boolean;
  /**
   * Return the K most probable classes of each image (`top`) instead of the logits: softmax and
   * top-K run on the GPU (the topk op) and only K (index, probability) pairs per image come back.
   * 1 ≤ K ≤ num_classes.
   */
  topK?: number;
}

/**
 * Pixels written on the GPU straight into the model's input tensor, in the forward pass's turn
 * (ImagePreprocessor.input): nothing is uploaded from or read back to the CPU.
 */
export interface GpuInput extends InputWriter {
  /** Images it writes. */
  readonly batch: number;
}

export interface TopClass {
  index: number;
  /** Softmax probability, float32 (within a few ULP of the float64 softmax of the logits). */
  p: number;
}

export interface ForwardResult {
  batch: number;
  /** [batch, num_classes], row-major; empty when the model has no classifier or topK was asked for. */
  logits: Float32Array;
  numClasses: number;
  /** [batch, hidden_size] when asked for (always present for num_classes 0). */
  features?: Float32Array;
  /** With `topK`: per image, its K most probable classes, most probable first (ties: lower index). */
  top?: TopClass[][];
}

/** A checked input: the caller's CPU pixels (not yet copied), or a GPU writer (the preprocessor's). */
type Taken = { batch: number; pixels: Float32Array; gpu?: undefined } | { batch: number; gpu: GpuInput; pixels?: undefined };

/** Plans kept at once (one per batch size, least recently used dropped). */
const MAX_PLANS = 2;

/**
 * A ViT on a GPU device: weights uploaded once, all pipelines compiled at load, a compiled plan
 * per batch size. `dispose()` frees every buffer it made; it never destroys the device.
 */
export class ViTModel {
  /** Plans by batch size (`4`), and with the topk op for K classes (`4/top5`). */
  private readonly plans = new Map<string, Promise<Plan>>();
  /** Plans whose build has finished, by their promise in `plans` (forward() stages pixels into them at call time). */
  private readonly built = new WeakMap<Promise<Plan>, Plan>();
  private disposed = false;
  /** Evicted plans still finishing runs queued on them (dispose waits for them). */
  private readonly retiring = new Set<Promise<void>>();
  /** How an image becomes this model's input: the weight file's `webvit.preprocess`, or the defaults. */
  preprocess!: PreprocessConfig;
  /** The largest |input value| it takes: beyond it float32 overflows in its layernorms (finite.ts, inputLimit). */
  inputLimit = Infinity;
  /** map pooling (SigLIP): the attention-pooling head's query, for explain's probe rollout. */
  private probeQuery?: Float32Array;

  private constructor(
    readonly device: GPUDevice,
    readonly config: ViTConfig,
    readonly labels: string[] | undefined,
    readonly label: string,
    /** Variants forced by the caller (the rest are tuned per shape, or default). */
    readonly forcedKernels: KernelChoice,
    private readonly tuning: { store: TuneStore | undefined; tune: boolean },
    private readonly onProgress: LoadOptions['onProgress'],
    private readonly weights: Map<string, GPUBuffer>,
    /** Matmul weights not stored as f32 (their scales are weights `name#scale`). */
    private readonly storage: ReadonlyMap<string, WeightStorage>,
    private readonly owner: BufferOwner,
    /** LoadOptions.precision. */
    readonly precision: Precision,
  ) {}

  /** Loads a webvit weight file (bytes) onto `device`. */
  static async load(device: GPUDevice, bytes: Uint8Array | ArrayBuffer, options: LoadOptions & { source?: string } = {}): Promise<ViTModel> {
    checkLoadOptions(options, 'ViTModel.load');
    return ViTModel.fromWeights(device, await loadWeights(bytes, options.source ?? options.label ?? 'weights'), options);
  }

  static async fromWeights(device: GPUDevice, w: LoadedWeights, options: LoadOptions = {}): Promise<ViTModel> {
    checkLoadOptions(options, 'ViTModel.fromWeights');
    const label = options.label ?? 'vit';
    checkDevice(device, label);
    const batch = options.batch ?? 1;
    checkBatch(batch, label);
    checkDeviceFits(device, w.config, batch, label);
    await loadGraphOps(w.config);
    // A forced variant this device or one of the model's problems cannot run is refused up front.
    const precision = options.precision ?? 'f32';
    if (!['f32', 'f16', 'int8', 'q4'].includes(precision)) throw new WebvitError('BAD_ARGUMENT', `${label}: precision must be 'f32', 'f16', 'int8' or 'q4', got ${JSON.stringify(precision)}`);
    if (options.kernels) checkForcedKernels(device, options.kernels, graphNodes(w.config, batch, device), label, precision);
    const owner = new BufferOwner(device);
    try {
      const buffers = new Map<string, GPUBuffer>();
      const storage = new Map<string, WeightStorage>();
      const declared = declaredWeights(w.config);
      // Quantised weights (a file's, or every matmul weight with precision 'int8' / 'q4') are
      // uploaded as they are: codes (padded to a u32 word) and scales, read by the matmul.
      const kind = precision === 'int8' || precision === 'q4' ? precision : undefined;
      const q = kind || w.quant?.size ? (await chunk(import('../on_demand.js'))).quantWeights(w, kind, declared, label) : undefined;
      const tensors = q?.tensors ?? w.tensors;
      for (const [name, m] of q?.quant ?? []) {
        storage.set(name, m.kind);
        buffers.set(name, upload(owner, `${label}.${name}`, m.codes).buffer);
        buffers.set(`${name}#scale`, upload(owner, `${label}.${name}.scale`, m.scales).buffer);
      }
      for (const [name, f32] of tensors) {
        // Matmul weights that came as F16 stay F16 on the GPU (an odd count padded with a zero
        // half); with precision 'f16' every matmul weight is rounded to F16 here.
        const bits = w.half?.get(name) ?? (precision === 'f16' && declared.get(name)?.matrix ? halvesOf(f32, name, label) : undefined);
        if (bits) storage.set(name, 'f16');
        buffers.set(name, upload(owner, `${label}.${name}`, bits ? bytesOf(bits) : bytesOf(f32)).buffer);
      }
      const model = new ViTModel(device, w.config, w.labels, label, options.kernels ?? {}, tuningFor(options.tune), options.onProgress, buffers, storage, owner, precision);
      model.preprocess = w.preprocess ?? defaultPreprocess(w.config);
      model.inputLimit = inputLimit(w.config.hidden_size, q?.limits ?? tensors);
      // An attention-pooling head's query, kept on the CPU for explain (weights are not read back from the GPU).
      model.probeQuery = w.tensors.get('pool.query')?.slice();
      await model.planFor(batch, model.checkTopK(options.topK)); // compiles every pipeline, in parallel, before the first forward
      return model;
    } catch (e) {
      owner.destroyAll();
      throw e;
    }
  }

  get numClasses(): number {
    return this.config.num_classes;
  }

  /** Bytes of the GPU buffers holding the weights. */
  get weightBytes(): number {
    return [...this.weights.values()].reduce((a, b) => a + b.size, 0);
  }

  /** Activation memory of the plan for `batch`, in bytes (see estimateActivationBytes). */
  activationBytes(batch = 1): number {
    return estimateActivationBytes(this.config, batch, this.device.limits.maxComputeWorkgroupStorageSize);
  }

  /**
   * Runs the model on float32 NCHW pixels (already normalised): `batch × C × S × S` values, or on
   * a GpuInput that writes them on the GPU (the image preprocessor's, classify's path).
   * CPU pixels are copied when forward() is called, so the caller may reuse its array at once:
   * into a mapped staging buffer of the batch size's plan when one is free (the one copy they
   * get), otherwise into a new array uploaded when the run starts. They are checked on the GPU
   * (op finite_check, in the same pass): NaN and ±Inf are refused, naming the image and position,
   * and that run's result is discarded. Logits (or top-K probabilities) that come out NaN or ±Inf
   * anyway (float32 overflow inside the model) are an error naming the images, never a result.
   */
  async forward(input: Float32Array | GpuInput, options: ForwardOptions = {}): Promise<ForwardResult> {
    checkForwardOptions(options, `${this.label}: forward`);
    const taken = this.take(input, options.batch);
    const k = this.checkTopK(options.topK);
    if (profileFromEnv()) {
      const p = await this.profileTaken(taken.pixels ? { batch: taken.batch, pixels: taken.pixels.slice() } : taken, options, k);
      console.error(`webvit ${this.label} batch ${taken.batch}: ${formatProfile(p)}`);
      return p.result;
    }
    const outputs = this.outputNames(k, options.features);
    const ready = taken.pixels && this.readyPlan(taken.batch, k);
    const staged = ready ? ready.stage('image', taken.pixels!) : undefined;
    // Without a staging buffer the pixels are copied now. run() is called in the turn the plan
    // arrives: a plan evicted by another forward's planFor() is destroyed in a reaction registered
    // after this one, so a run queued here is always one its destroy() waits for.
    const image = staged ?? taken.pixels?.slice() ?? taken.gpu!;
    const out = await (staged ? ready!.run({ image }, { outputs }) : this.planFor(taken.batch, k).then((plan) => plan.run({ image }, { outputs })));
    this.checkInputValues(out, taken.batch);
    return this.result(taken, out, options.features, k);
  }

  /** One forward pass with per-dispatch timing (GPU timestamps where the device has them). */
  async profile(input: Float32Array | GpuInput, options: ForwardOptions = {}): Promise<PlanProfile & { result: ForwardResult }> {
    checkForwardOptions(options, `${this.label}: profile`);
    const taken = this.take(input, options.batch);
    return this.profileTaken(taken.pixels ? { batch: taken.batch, pixels: taken.pixels.slice() } : taken, options, this.checkTopK(options.topK));
  }

  /** `taken.pixels` must be a copy made at call time: the profile does not stage them. */
  private async profileTaken(taken: Taken, options: ForwardOptions, k: number | undefined): Promise<PlanProfile & { result: ForwardResult }> {
    const plan = await this.planFor(taken.batch, k);
    const p = await plan.profile({ image: taken.pixels ?? taken.gpu }, { outputs: this.outputNames(k, options.features) });
    this.checkInputValues(p.outputs, taken.batch);
    return { method: p.method, dispatches: p.dispatches, totalMs: p.totalMs, result: this.result(taken, p.outputs, options.features, k) };
  }

  /** Outputs a run reads back: the input's check and the logits and features, or with top-K only its pairs (and features if asked). */
  private outputNames(k: number | undefined, features?: boolean): string[] | undefined {
    if (k === undefined) return undefined;
    return ['input.check', 'top', ...(features ? ['features'] : [])];
  }

  private checkTopK(k: number | undefined): number | undefined {
    if (k === undefined) return undefined;
    if (this.numClasses === 0) throw new WebvitError('BAD_INPUT', `${this.label}: topK asked for, but the model has no classifier (num_classes 0): it returns features`);
    if (!Number.isInteger(k) || k < 1 || k > this.numClasses) {
      throw new WebvitError('BAD_INPUT', `${this.label}: topK must be a whole number from 1 to the model's ${this.numClasses} classes, got ${valueText(k)}`);
    }
    return k;
  }

  private take(input: Float32Array | GpuInput, batchOption: number | undefined): Taken {
    if (input instanceof Float32Array || typeof (input as GpuInput | undefined)?.write !== 'function') return this.takeInput(input as Float32Array, batchOption);
    if (this.disposed) throw new WebvitError('DISPOSED', `${this.label}: forward() after dispose()`);
    const gpu = input as GpuInput;
    const batch = batchOption ?? gpu.batch;
    checkBatch(batch, this.label);
    const per = shapeOf(this.config).imageValues;
    if (gpu.batch !== batch || gpu.byteLength !== 4 * batch * per) {
      const c = this.config;
      throw new WebvitError(
        'BAD_INPUT',
        `${this.label}: GPU input of ${gpu.batch} images, ${gpu.byteLength} bytes, for batch ${batch}: expected ${4 * batch * per} bytes (one image is ${c.num_channels}×${c.image_size}×${c.image_size} float32 values; is the preprocessor this model's?)`,
      );
    }
    return { batch, gpu };
  }

  /**
   * Checks the input's size, synchronously. forward() runs are queued, and a run that read the
   * caller's array when it started would see whatever the caller wrote there in the meantime:
   * callers copy or stage the pixels before they return (forward, profile, explain).
   */
  private takeInput(input: Float32Array, batchOption: number | undefined): Taken {
    const batch = this.checkInput(input, batchOption);
    return { batch, pixels: input };
  }

  /** BAD_INPUT when the run's finite_check found NaN, ±Inf or values beyond inputLimit in the input (that run's results are discarded). */
  private checkInputValues(out: Record<string, Float32Array>, batch: number): void {
    const per = shapeOf(this.config).imageValues;
    const bad = decodeFiniteCheck(out['input.check'], batch, per);
    if (bad.length) throw this.nonFiniteInput(bad, batch);
    this.checkLargest(largestPerImage(out['input.check'], batch, per), batch);
  }

  /** BAD_INPUT naming the images whose largest |value| is beyond what the model takes without float32 overflow. */
  private checkLargest(largest: number[], batch: number): void {
    const bad = [...largest.keys()].filter((i) => largest[i] > this.inputLimit);
    if (!bad.length) return;
    const m = Math.max(...bad.map((i) => largest[i]));
    // Digits enough to tell the two apart ("up to 7.5e+16, beyond the 7.5e+16" read as no excess).
    let d = 1;
    while (d < 8 && m.toExponential(d) == this.inputLimit.toExponential(d)) d++;
    throw new WebvitError(
      'BAD_INPUT',
      `${this.label}: input ${imageList(bad, batch)} ${bad.length > 1 ? 'hold values' : 'holds a value'} of magnitude up to ${m.toExponential(d)}, beyond the ${this.inputLimit.toExponential(d)} this model takes: float32 would overflow inside it (layernorm), giving NaN or the same answer for every image. Pixels must be normalised ((x − mean) / std, within about ±10); fix or drop that image.`,
    );
  }

  /** Flat index `bad` of `pixels` as finite_check reports it. */
  private locate(pixels: Float32Array, bad: number): NonFiniteValue[] {
    const per = shapeOf(this.config).imageValues;
    return [{ image: Math.floor(bad / per), index: bad % per, value: String(pixels[bad]) as NonFiniteValue['value'] }];
  }

  /** BAD_INPUT naming the first image with a NaN or ±Inf, the value, its channel, row and column, and any other such images. */
  private nonFiniteInput(bad: NonFiniteValue[], batch: number): WebvitError {
    const S = this.config.image_size;
    const { image, index: v, value } = bad[0];
    const where = `channel ${Math.floor(v / (S * S))}, row ${Math.floor(v / S) % S}, column ${v % S}`;
    const others = bad.length > 1 ? ` (${imageList(bad.slice(1).map((b) => b.image), batch)} also ${bad.length === 2 ? 'holds' : 'hold'} NaN or ±Inf)` : '';
    return new WebvitError(
      'BAD_INPUT',
      `${this.label}: input image ${image} of ${batch} has ${value} at value ${v} (${where})${others}; pixels must be finite numbers (normalised: (x − mean) / std). Fix or drop that image.`,
    );
  }

  /** Frees the weights and every plan. The device stays usable (it may be the caller's). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const plans = [...this.plans.values()];
    this.plans.clear();
    // Plans free their buffers after the runs queued on them; the weights go only after that.
    await Promise.all([...plans.map((p) => p.then((plan) => plan.destroy(), () => undefined)), ...this.retiring, this.explainer?.then((e) => e.dispose(), () => undefined)]);
    this.owner.destroyAll();
  }

  private result(taken: Taken, out: Record<string, Float32Array>, withFeatures: boolean | undefined, k: number | undefined): ForwardResult {
    const batch = taken.batch;
    const r: ForwardResult = { batch, numClasses: this.numClasses, logits: out.logits ?? new Float32Array(0) };
    if (withFeatures || this.numClasses === 0) r.features = out.features;
    if (k !== undefined) {
      // [batch, k, 2]: index, probability. A row with a NaN or ±Inf logit has NaN probabilities.
      const t = out.top;
      r.top = Array.from({ length: batch }, (_, i) => Array.from({ length: k }, (_, j) => ({ index: t[2 * (i * k + j)], p: t[2 * (i * k + j) + 1] })));
    }
    // A finite input within inputLimit gave NaN or ±Inf (a layernorm that overflowed writes NaN):
    // its scale cannot overflow the model (finite.ts, inputLimit), so the weights did.
    const rows = [...nonFiniteRows(r.logits, this.numClasses), ...(r.features ? nonFiniteRows(r.features, shapeOf(this.config).featureSize) : [])];
    r.top?.forEach((row, i) => row.some((e) => !Number.isFinite(e.p)) && rows.push(i));
    const bad = [...new Set(rows)].sort((x, y) => x - y);
    if (bad.length) {
      throw new WebvitError(
        'BAD_WEIGHTS',
        `${this.label}: the outputs of ${imageList(bad, batch)} are not finite (NaN or ±Inf) although the input is finite and within ±${this.inputLimit.toExponential(1)}: the model's weights overflow float32 (3.4e38) in their products and sums. Check the weight file; convert it again from the original checkpoint.`,
      );
    }
    return r;
  }

  private checkInput(input: Float32Array, batch?: number): number {
    if (this.disposed) throw new WebvitError('DISPOSED', `${this.label}: forward() after dispose()`);
    const c = this.config;
    const per = shapeOf(c).imageValues;
    if (!(input instanceof Float32Array)) {
      throw new WebvitError('BAD_INPUT', `${this.label}: input must be a Float32Array of NCHW pixels, got ${Object.prototype.toString.call(input)}`);
    }
    const what = `one image is ${c.num_channels}×${c.image_size}×${c.image_size} = ${per} float32 values`;
    if (batch === undefined) {
      if (input.length === 0 || input.length % per !== 0) {
        throw new WebvitError('BAD_INPUT', `${this.label}: input has ${input.length} values, not a whole number of images (${what})`);
      }
      batch = input.length / per;
    }
    checkBatch(batch, this.label);
    if (input.length !== batch * per) {
      throw new WebvitError('BAD_INPUT', `${this.label}: input has ${input.length} values, expected ${batch * per} for batch ${batch} (${what})`);
    }
    return batch;
  }

  /**
   * The explain plan (src/model/explain.ts), made on the first explain() call. Its module is
   * imported then: the browser bundle loads the explain kernels only for a page that explains.
   */
  private explainer: Promise<Explainer> | undefined;

  /**
   * What the model attends to: per layer the head-averaged attention and each head's mean
   * attention distance, and the attention rollout (or one layer's attention) per image. Runs a
   * separate explain plan, compiled on first use; the forward plans are not touched.
   */
  async explain(input: Float32Array, options: ExplainOptions = {}): Promise<AttentionExplanation> {
    checkForwardOptions(options, `${this.label}: explain`, ['batch', 'layer']);
    const batch = this.checkInput(input, options.batch);
    const pixels = input.slice();
    const bad = firstNonFinite(pixels);
    if (bad >= 0) throw this.nonFiniteInput(this.locate(pixels, bad), batch);
    const per = pixels.length / batch;
    this.checkLargest(Array.from({ length: batch }, (_, i) => maxAbs(pixels.subarray(i * per, (i + 1) * per))), batch);
    this.explainer ??= import('../on_demand.js').then(
      ({ Explainer }) =>
        new Explainer({
          device: this.device, config: this.config, label: this.label, storage: this.storage, onProgress: this.onProgress,
          weight: (name) => this.weight(name),
          kernels: (b) => this.graphKernels(b),
          forced: this.forcedKernels as Record<string, string | undefined>,
          probeQuery: this.probeQuery,
        }),
      (e: unknown) => {
        this.explainer = undefined; // a chunk that failed to load is tried again next time
        throw chunkMissing(e);
      },
    );
    return (await this.explainer).run(pixels, batch, options);
  }

  private readonly chosen = new Map<number, Record<string, string>>();

  /** Kernel variant chosen for each matmul shape and for attention, at `batch` (after its plan is built). */
  kernels(batch = 1): Record<string, string> | undefined {
    return this.chosen.get(batch);
  }

  /** Variants for a batch size: forced, cached, tuned per problem (when asked) or the adapter's defaults. */
  private async graphKernels(batch: number): Promise<GraphKernels> {
    // The problems are read off the graph itself, so the tuner sees exactly what will run.
    const r = await tuneKernels(this.device, graphNodes(this.config, batch, this.device, this.storage), this.tuning.store, this.forcedKernels, { tune: this.tuning.tune, onProgress: this.onProgress, precision: this.precision });
    this.chosen.set(batch, r.chosen);
    return r.kernels;
  }

  /** The plan for a batch size if it is built already (refreshing its place in the LRU order), synchronously. */
  private readyPlan(batch: number, topK?: number): Plan | undefined {
    const p = this.plans.get(topK === undefined ? `${batch}` : `${batch}/top${topK}`);
    const plan = p && this.built.get(p);
    if (plan) this.planFor(batch, topK);
    return plan;
  }

  private planFor(batch: number, topK?: number): Promise<Plan> {
    const key = topK === undefined ? `${batch}` : `${batch}/top${topK}`;
    let p = this.plans.get(key);
    if (p) {
      this.plans.delete(key); // refresh its place in the LRU order
      this.plans.set(key, p);
      return p;
    }
    checkDeviceFits(this.device, this.config, batch, this.label);
    p = this.graphKernels(batch).then((kernels) => {
      const graph = buildGraph(this.config, (name) => this.weight(name), { batch, maxWorkgroupStorage: this.device.limits.maxComputeWorkgroupStorageSize, kernels, storage: this.storage, scale: (name) => this.weight(`${name}#scale`) });
      const outputs = [graph.inputCheck!.tensor, graph.features.tensor, ...(graph.logits ? [graph.logits.tensor] : [])];
      const dispatches = [...graph.dispatches];
      if (topK !== undefined && graph.logits) {
        // logits [batch, num_classes] -> top [batch, K, 2]: softmax and top-K in the same pass.
        const top = { tensor: 'top', bytes: 8 * batch * topK };
        dispatches.push(topk({ label: `${this.label}.topk`, rows: batch, n: this.numClasses, k: topK, logits: graph.logits, out: top }));
        outputs.push(top.tensor);
      }
      return Plan.compile(this.device, `${this.label}.b${key}`, dispatches, { inputs: [graph.input.tensor], outputs }, { onCompile: this.onProgress });
    });
    this.plans.set(key, p);
    const built = p;
    built.then((plan) => this.built.set(built, plan), () => undefined);
    // A failed build leaves the map, unless it was evicted and the batch size built again since.
    p.catch(() => this.plans.get(key) === p && this.plans.delete(key));
    while (this.plans.size > MAX_PLANS) {
      const [oldKey, old] = this.plans.entries().next().value as [string, Promise<Plan>];
      this.plans.delete(oldKey);
      const retired: Promise<void> = old.then((plan) => plan.destroy(), () => undefined).finally(() => this.retiring.delete(retired));
      this.retiring.add(retired);
    }
    return p;
  }

  private weight(name: string): Binding {
    const b = this.weights.get(name);
    if (!b) throw new WebvitError('BAD_WEIGHTS', `${this.label}: no weight ${name}`);
    return { buffer: b, offset: 0, size: b.size };
  }

  /** Number of distinct pipelines compiled on this device so far. */
  get pipelineCount(): number {
    return pipelineCacheFor(this.device).size;
  }
}

const isTuneStore = (s: unknown): s is TuneStore => typeof s == 'object' && s !== null && typeof (s as TuneStore).get == 'function' && typeof (s as TuneStore).set == 'function';

/** forward()'s and profile()'s options: an object (or absent) of the documented kinds, each named. */
function checkForwardOptions(o: unknown, where: string, keys = ['batch', 'topK', 'features']): void {
  checkOptionKeys(o, keys, where);
  const f = (o as ForwardOptions).features;
  if (f !== undefined && typeof f != 'boolean') throw mustBe(`${where}: options.features`, 'true or false', f);
}

/** load()'s and fromWeights()'s options: an object (or absent) whose tune, kernels and label are of the documented kinds. */
function checkLoadOptions(o: unknown, where: string): void {
  // `source` is load()'s (the name of the bytes in messages); fromWeights gets it from load.
  checkOptionKeys(o, ['label', 'batch', 'topK', 'kernels', 'tune', 'onProgress', 'precision', 'source'], where);
  const { tune, kernels, label, onProgress } = o as LoadOptions;
  const name = `${where}: options.`;
  if (tune !== undefined && typeof tune != 'boolean' && !isTuneStore(tune)) throw mustBe(`${name}tune`, 'true, false or a TuneStore ({ get, set })', tune);
  if (kernels !== undefined && (typeof kernels != 'object' || kernels === null || Array.isArray(kernels))) throw mustBe(`${name}kernels`, "an object of op: variant ({ matmul: 'tiled' })", kernels);
  if (label !== undefined && (typeof label != 'string' || label.length > 200)) throw mustBe(`${name}label`, 'a string of at most 200 characters', label);
  if (onProgress !== undefined && typeof onProgress != 'function') throw mustBe(`${name}onProgress`, 'a function', onProgress);
}

function checkBatch(batch: number, label: string): void {
  if (!Number.isInteger(batch) || batch < 1) throw new WebvitError('BAD_INPUT', `${label}: batch must be a positive integer, got ${valueText(batch)}`);
}


/** The op nodes (op, variant, problem) of the graph at `batch`, built on placeholder buffers. */
function graphNodes(c: ViTConfig, batch: number, device: GPUDevice, storage?: ReadonlyMap<string, WeightStorage>) {
  const dummy = { buffer: undefined as unknown as GPUBuffer };
  const g = buildGraph(c, () => dummy, { batch, maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize, storage, scale: () => dummy });
  return g.dispatches.flatMap((d) => (d.op ? [d.op] : []));
}

/**
 * A weight's IEEE half bits (precision 'f16'). A value beyond f16's range (65504) would become
 * ±Inf: refused, naming the tensor, rather than run.
 */
function halvesOf(f32: Float32Array, name: string, label: string): Uint16Array {
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < f32.length; i++) {
    const h = floatToHalf(f32[i]);
    if ((h & 0x7c00) === 0x7c00) throw new WebvitError('BAD_WEIGHTS', `${label}: tensor ${name} holds ${f32[i]} at flat index ${i}, beyond f16's range (±65504); load this model with precision 'f32'`);
    out[i] = h;
  }
  return out;
}

/** The biggest single activation (the MLP hidden layer) must fit one storage binding. */
function checkDeviceFits(device: GPUDevice, c: ViTConfig, batch: number, label: string): void {
  const T = shapeOf(c).tokens;
  const biggest = 4 * batch * T * Math.max(c.mlp_size, 3 * c.hidden_size);
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (biggest > limit) {
    const maxBatch = Math.floor(limit / (4 * T * Math.max(c.mlp_size, 3 * c.hidden_size)));
    throw new WebvitError('DEVICE_LIMITS', `${label}: batch ${batch} needs a ${biggest}-byte activation buffer but this device binds at most ${limit} bytes; use batch ≤ ${maxBatch}`);
  }

}


/**
 * Activation memory of a forward pass at `batch`, in bytes, without a GPU: the same graph and
 * the same liveness allocator the runtime uses (input and outputs included).
 */
export function estimateActivationBytes(c: ViTConfig, batch: number, maxWorkgroupStorage = 16384): number {
  checkBatch(batch, 'estimateActivationBytes');
  if (batch > 2 ** 20) throw new WebvitError('BAD_INPUT', `estimateActivationBytes: batch ${batch} is beyond any device (at most ${2 ** 20})`);
  const dummy = { buffer: undefined as unknown as GPUBuffer };
  const g = buildGraph(c, () => dummy, { batch, maxWorkgroupStorage });
  const outputs = [g.inputCheck!.tensor, g.features.tensor, ...(g.logits ? [g.logits.tensor] : [])];
  const lives = tensorLifetimes('estimate', g.dispatches, { inputs: [g.input.tensor], outputs });
  return assignBuffers([...lives.values()]).totalBytes;
}

/** Parameter count of a config (what its weight file holds). */
export function parameterCount(c: ViTConfig): number {
  let n = 0;
  for (const shape of expectedTensors(c).values()) n += shape.reduce((a, d) => a * d, 1);
  return n;
}
