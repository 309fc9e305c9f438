import { unavailableReason, type Binding } from '../kernels/kernel.js';
import { assignBuffers } from '../runtime/arena.js';
import { WebvitError } from '../runtime/errors.js';
import { pipelineCacheFor } from '../runtime/pipelines.js';
import { BufferOwner, Plan, tensorLifetimes, type PlanProfile } from '../runtime/plan.js';
import { shapeOf, type ViTConfig } from './config.js';
import { buildGraph } from './graph.js';
import { defaultGraphKernels, KERNEL_VARIANTS, variantNeeds, type GraphKernels, type KernelChoice } from '../kernels/registry.js';
import { attentionInapplicable, type AttentionVariant } from '../kernels/attention/op.js';
import { localStorageTuneStore, memoryTuneStore, tuneKernels, type TuneStore } from '../runtime/tuning.js';
import { expectedTensors, readWeights, type LoadedWeights } from './weights.js';
import { formatProfile, profileFromEnv } from '../runtime/profile_format.js';
import { defaultPreprocess, type PreprocessConfig } from './preprocess.js';

export interface LoadOptions {
  /** Names GPU objects and errors; defaults to "vit". */
  label?: string;
  /** Batch size to build a plan for at load (more are built on first use). Default 1. */
  batch?: number;
  /** Force a kernel variant per op (src/kernels/registry.ts); the rest are tuned or default. */
  kernels?: KernelChoice;
  /**
   * Pick the fastest correct variant of each op for this adapter and shape with a short tune on
   * first use, remembered in `store` (default: localStorage in browsers, a cache file in Node via
   * `setDefaultTuneStore`, else memory). `false`: use the defaults (correct on every adapter).
   */
  tune?: boolean | TuneStore;
}

let defaultStore: TuneStore | undefined;

/** Where tuning results go when a load does not say (the Node entry and CLI set a cache file). */
export function setDefaultTuneStore(store: TuneStore): void {
  defaultStore = store;
}

function tuneStoreFor(option: LoadOptions['tune']): TuneStore | undefined {
  if (option === false) return undefined;
  if (option && option !== true) return option;
  defaultStore ??= localStorageTuneStore() ?? memoryTuneStore();
  return defaultStore;
}

export interface ForwardOptions {
  /** Images in the input; inferred from its length when omitted. */
  batch?: number;
  /** Also return the pooled features (after the final layernorm). */
  features?: boolean;
}

export interface ForwardResult {
  batch: number;
  /** [batch, num_classes], row-major; empty when the model has no classifier. */
  logits: Float32Array;
  numClasses: number;
  /** [batch, hidden_size] when asked for (always present for num_classes 0). */
  features?: Float32Array;
}

/** Plans kept at once (one per batch size, least recently used dropped). */
const MAX_PLANS = 2;

/**
 * A ViT on a GPU device: weights uploaded once, all pipelines compiled at load, a compiled plan
 * per batch size. `dispose()` frees every buffer it made; it never destroys the device.
 */
export class ViTModel {
  private readonly plans = new Map<number, Promise<Plan>>();
  private disposed = false;
  /** Evicted plans still finishing runs queued on them (dispose waits for them). */
  private readonly retiring = new Set<Promise<void>>();
  /** How an image becomes this model's input: the weight file's `webvit.preprocess`, or the defaults. */
  preprocess!: PreprocessConfig;

  private constructor(
    readonly device: GPUDevice,
    readonly config: ViTConfig,
    readonly labels: string[] | undefined,
    readonly label: string,
    /** Variants forced by the caller (the rest are tuned per shape, or default). */
    readonly forcedKernels: KernelChoice,
    private readonly tuneStore: TuneStore | undefined,
    private readonly weights: Map<string, GPUBuffer>,
    private readonly halfWeights: ReadonlySet<string>,
    private readonly owner: BufferOwner,
  ) {}

  /** Loads a webvit weight file (bytes) onto `device`. */
  static async load(device: GPUDevice, bytes: Uint8Array | ArrayBuffer, options: LoadOptions & { source?: string } = {}): Promise<ViTModel> {
    return ViTModel.fromWeights(device, readWeights(bytes, options.source ?? options.label ?? 'weights'), options);
  }

  static async fromWeights(device: GPUDevice, w: LoadedWeights, options: LoadOptions = {}): Promise<ViTModel> {
    const label = options.label ?? 'vit';
    const batch = options.batch ?? 1;
    checkBatch(batch, label);
    checkDeviceFits(device, w.config, batch, label);
    checkForcedKernels(device, w.config, options.kernels ?? {}, label);
    const owner = new BufferOwner(device);
    try {
      const buffers = new Map<string, GPUBuffer>();
      for (const [name, f32] of w.tensors) {
        // Matmul weights that came as F16 stay F16 on the GPU (padded to whole u32 words).
        const data: Uint8Array = w.half?.has(name) ? u8(w.half.get(name)!) : u8(f32);
        const buf = owner.create({ label: `${label}.${name}`, size: Math.max(16, align4(data.byteLength)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(buf, 0, data as Uint8Array<ArrayBuffer>, 0, align4(data.byteLength) === data.byteLength ? data.byteLength : data.byteLength - 2);
        if (align4(data.byteLength) !== data.byteLength) {
          // Odd number of halves: write the last one padded with a zero half.
          const tail = new Uint8Array(4);
          tail.set(data.subarray(data.byteLength - 2));
          device.queue.writeBuffer(buf, data.byteLength - 2, tail);
        }
        buffers.set(name, buf);
      }
      const model = new ViTModel(device, w.config, w.labels, label, options.kernels ?? {}, tuneStoreFor(options.tune), buffers, new Set(w.half?.keys() ?? []), owner);
      model.preprocess = w.preprocess ?? defaultPreprocess(w.config);
      await model.planFor(batch); // compiles every pipeline, in parallel, before the first forward
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

  /** Runs the model on float32 NCHW pixels (already normalised): `batch × C × S × S` values. */
  async forward(input: Float32Array, options: ForwardOptions = {}): Promise<ForwardResult> {
    const batch = this.checkInput(input, options.batch);
    if (profileFromEnv()) {
      const p = await this.profile(input, options);
      console.error(`webvit ${this.label} batch ${batch}: ${formatProfile(p)}`);
      return p.result;
    }
    const plan = await this.planFor(batch);
    const out = await plan.run({ image: input });
    return this.result(batch, out, options.features);
  }

  /** One forward pass with per-dispatch timing (GPU timestamps where the device has them). */
  async profile(input: Float32Array, options: ForwardOptions = {}): Promise<PlanProfile & { result: ForwardResult }> {
    const batch = this.checkInput(input, options.batch);
    const plan = await this.planFor(batch);
    const p = await plan.profile({ image: input });
    return { method: p.method, dispatches: p.dispatches, totalMs: p.totalMs, result: this.result(batch, p.outputs, options.features) };
  }

  /** Frees the weights and every plan. The device stays usable (it may be the caller's). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const plans = [...this.plans.values()];
    this.plans.clear();
    // Plans free their buffers after the runs queued on them; the weights go only after that.
    await Promise.all([...plans.map((p) => p.then((plan) => plan.destroy(), () => undefined)), ...this.retiring]);
    this.owner.destroyAll();
  }

  private result(batch: number, out: Record<string, Float32Array>, withFeatures?: boolean): ForwardResult {
    const r: ForwardResult = { batch, numClasses: this.numClasses, logits: out.logits ?? new Float32Array(0) };
    if (withFeatures || this.numClasses === 0) r.features = out.features;
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

  private readonly chosen = new Map<number, Record<string, string>>();

  /** Kernel variant chosen for each matmul shape and for attention, at `batch` (after its plan is built). */
  kernels(batch = 1): Record<string, string> | undefined {
    return this.chosen.get(batch);
  }

  /** Variants for a batch size: tuned per shape (cached by the store), or the defaults. */
  private async graphKernels(batch: number): Promise<GraphKernels> {
    const s = shapeOf(this.config);
    if (!this.tuneStore) {
      const k = defaultGraphKernels(this.forcedKernels);
      this.chosen.set(batch, { matmul: k.matmul(0, 0, 0), attention: k.attention, layernorm: k.layernorm });
      return k;
    }
    // The matmul shapes are read off the graph itself, so the tuner sees exactly what will run.
    const probe = buildGraph(this.config, (name) => this.weight(name), { batch, maxWorkgroupStorage: this.device.limits.maxComputeWorkgroupStorageSize });
    const matmuls = probe.dispatches.filter((d) => d.source.kernel.startsWith('matmul/')).map((d) => ({ M: d.uniforms!.M, K: d.uniforms!.K, N: d.uniforms!.N }));
    const r = await tuneKernels(this.device, { matmuls, attention: { batch, T: s.tokens, heads: this.config.num_heads, headDim: s.headDim }, layernorm: { rows: batch * s.tokens, D: this.config.hidden_size } }, this.tuneStore, this.forcedKernels);
    this.chosen.set(batch, r.chosen);
    return r.kernels;
  }

  private planFor(batch: number): Promise<Plan> {
    let p = this.plans.get(batch);
    if (p) {
      this.plans.delete(batch); // refresh its place in the LRU order
      this.plans.set(batch, p);
      return p;
    }
    checkDeviceFits(this.device, this.config, batch, this.label);
    p = this.graphKernels(batch).then((kernels) => {
      const graph = buildGraph(this.config, (name) => this.weight(name), { batch, maxWorkgroupStorage: this.device.limits.maxComputeWorkgroupStorageSize, kernels, halfWeights: this.halfWeights });
      const outputs = [graph.features.tensor, ...(graph.logits ? [graph.logits.tensor] : [])];
      return Plan.compile(this.device, `${this.label}.b${batch}`, graph.dispatches, { inputs: [graph.input.tensor], outputs });
    });
    this.plans.set(batch, p);
    p.catch(() => this.plans.delete(batch));
    while (this.plans.size > MAX_PLANS) {
      const [oldBatch, old] = this.plans.entries().next().value as [number, Promise<Plan>];
      this.plans.delete(oldBatch);
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

function checkBatch(batch: number, label: string): void {
  if (!Number.isInteger(batch) || batch < 1) throw new WebvitError('BAD_INPUT', `${label}: batch must be a positive integer, got ${batch}`);
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;
const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The biggest single activation (the MLP hidden layer) must fit one storage binding. */
/** A forced variant this device or model cannot run is refused up front, with the reason. */
function checkForcedKernels(device: GPUDevice, config: ViTConfig, forced: KernelChoice, label: string): void {
  for (const [op, variant] of Object.entries(forced) as [keyof KernelChoice, string][]) {
    const known = KERNEL_VARIANTS[op] as Record<string, unknown> | undefined;
    if (!known || !(variant in known)) {
      throw new WebvitError('BAD_CONFIG', `${label}: kernels.${op} = "${variant}" is not a variant of ${op}; known: ${known ? Object.keys(known).join(', ') : `ops ${Object.keys(KERNEL_VARIANTS).join(', ')}`}`);
    }
    const why =
      unavailableReason(device, variantNeeds(op, variant as never)) ??
      (op === 'attention' ? attentionInapplicable(variant as AttentionVariant, config.hidden_size / config.num_heads) : undefined);
    if (why) throw new WebvitError('DEVICE_LIMITS', `${label}: kernels.${op} = "${variant}" cannot run here: ${why}. Force another variant or leave ${op} to the tuner.`);
  }
}

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
  const dummy = { buffer: undefined as unknown as GPUBuffer };
  const g = buildGraph(c, () => dummy, { batch, maxWorkgroupStorage });
  const outputs = [g.features.tensor, ...(g.logits ? [g.logits.tensor] : [])];
  const lives = tensorLifetimes('estimate', g.dispatches, { inputs: [g.input.tensor], outputs });
  return assignBuffers([...lives.values()]).totalBytes;
}

/** Parameter count of a config (what its weight file holds). */
export function parameterCount(c: ViTConfig): number {
  let n = 0;
  for (const shape of expectedTensors(c).values()) n += shape.reduce((a, d) => a * d, 1);
  return n;
}
