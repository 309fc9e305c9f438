import { isTensorRef, type Binding, type Dispatch } from '../kernels/kernel.js';
import { assignBuffers, type TensorLife } from './arena.js';
import { WebvitError } from './errors.js';
import { pipelineCacheFor, type CompiledKernel } from './pipelines.js';
import { BufferOwner, bytesOf, writeBytes } from './buffers.js';
import type { ProgressCallback } from './progress.js';
import { createCheckedBindGroup, packUniform, type BufferSlice } from './shader.js';
import { pollsWhileWaiting, sleep, WaitEstimate } from './waiting.js';

export interface PlanCompileOptions {
  /** Called as kernels new to the device are compiled and run once (see warmUp). */
  onCompile?: ProgressCallback;
}

export interface PlanIO {
  /** Tensors written before each run: from the CPU (bytes) or on the GPU (an InputWriter). */
  inputs: string[];
  /** Tensors that may be read back after a run (each run reads all of them unless it names fewer). */
  outputs: string[];
}

/**
 * Writes a plan input on the GPU instead of from the CPU: the image preprocessor writes the
 * normalised pixels straight into the model's input tensor. Called in the run's turn (runs on a
 * plan are serialised, so nothing else touches the tensor meanwhile), before the forward pass is
 * encoded: it may submit work of its own first (queue order puts it before the forward pass) and
 * records the rest into `encoder`, the run's command encoder, ahead of the forward pass.
 */
export interface InputWriter {
  /** The input's bytes must be exactly the tensor's. */
  readonly byteLength: number;
  write(target: BufferSlice & { buffer: GPUBuffer; size: number }, encoder: GPUCommandEncoder): Promise<void>;
  /** Called once the run that used it is over (done, failed, or refused). */
  release?(): void;
}

export interface RunOptions {
  /** Outputs to read back (default: every output of the plan's io). */
  outputs?: string[];
}

/** Staging buffers kept per plan input (see Plan.stage): one filling while another's run is in flight. */
export const STAGING_PER_INPUT = 2;

interface Staging {
  buffer: GPUBuffer;
  /** mapped: free to fill; held: filled, its run not yet submitted; mapping: being mapped again after its run. */
  state: 'mapped' | 'held' | 'mapping';
}

/**
 * CPU bytes already copied into a staging buffer of a plan (Plan.stage): the run copies them into
 * the input tensor on the GPU, then the buffer is mapped again for a later call.
 */
export class StagedInput implements InputWriter {
  constructor(
    readonly plan: Plan,
    readonly byteLength: number,
    private readonly staging: Staging,
    private readonly remap: (s: Staging) => void,
  ) {}
  write(target: BufferSlice & { buffer: GPUBuffer; size: number }, encoder: GPUCommandEncoder): Promise<void> {
    encoder.copyBufferToBuffer(this.staging.buffer, 0, target.buffer, target.offset ?? 0, this.byteLength);
    return Promise.resolve();
  }
  release(): void {
    if (this.staging.state === 'held') this.remap(this.staging);
  }
}

export const isInputWriter = (x: ArrayBufferView | InputWriter): x is InputWriter => typeof (x as InputWriter).write === 'function';

/** GPU time (timestamp queries) or wall time (submit-and-wait) of one dispatch. */
export interface DispatchTiming {
  label: string;
  kernel: string;
  ms: number;
  flops: number;
  bytes: number;
}

export interface PlanProfile {
  method: 'timestamp-query' | 'wall-clock';
  dispatches: DispatchTiming[];
  totalMs: number;
}

interface CompiledStep {
  dispatch: Dispatch;
  kernel: CompiledKernel;
  bindGroup: GPUBindGroup;
}

/**
 * A compiled forward pass: pipelines, bind groups, uniforms and activation buffers made once;
 * each run is one command buffer (one compute pass holding every dispatch, then the readback copy)
 * and one map of the readback buffer. Runs on one plan are serialised.
 */
export class Plan {
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  private freed: Promise<void> = Promise.resolve();
  private readonly staging = new Map<string, Staging[]>();
  /** Recent runs' GPU waits, for sleeping through most of the next one (src/runtime/waiting.ts). */
  private readonly wait = new WaitEstimate();

  private constructor(
    readonly device: GPUDevice,
    readonly label: string,
    private readonly steps: CompiledStep[],
    private readonly tensors: Map<string, BufferSlice & { size: number }>,
    private readonly io: PlanIO,
    private readonly readback: GPUBuffer,
    private readonly owner: BufferOwner,
    /** Bytes of the activation buffers (inputs and outputs included). */
    readonly activationBytes: number,
  ) {}

  static async compile(device: GPUDevice, label: string, dispatches: Dispatch[], io: PlanIO, options: PlanCompileOptions = {}): Promise<Plan> {
    const owner = new BufferOwner(device);
    const cache = pipelineCacheFor(device);
    // Kernels new to this device, counted before their pipelines are made so that a progress
    // line shows at once (creating them is quick on CPU drivers; running them once is not).
    const fresh = new Set(dispatches.map((d) => d.source.key).filter((k) => !cache.hasRun(k)));
    if (fresh.size > 0) options.onCompile?.({ stage: 'compile', done: 0, total: fresh.size });
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let openScopes = 2;
    const popScope = () => {
      openScopes--;
      return device.popErrorScope();
    };
    try {
      // 1. Tensor lifetimes -> arena buffers.
      const lives = tensorLifetimes(label, dispatches, io);
      const arena = assignBuffers([...lives.values()]);
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      const physical = arena.buffers.map((size, i) => owner.create({ label: `${label}.activations${i}`, size: align(size, 16), usage }));
      const tensors = new Map<string, BufferSlice & { size: number }>();
      for (const [name, life] of lives) tensors.set(name, { buffer: physical[arena.slot.get(name)!], offset: 0, size: life.bytes });

      // 2. Every distinct kernel, compiled in parallel.
      const kernels = await Promise.all(dispatches.map((d) => cache.get(d.source)));

      // 3. Uniforms of all dispatches in one buffer, each at an aligned offset.
      const alignment = device.limits.minUniformBufferOffsetAlignment;
      const packed = dispatches.map((d, i) => (kernels[i].info.uniform ? packUniform(d.label, kernels[i].info, d.uniforms ?? {}) : undefined));
      let uniformBytes = 0;
      const offsets = packed.map((p) => {
        if (!p) return -1;
        const o = uniformBytes;
        uniformBytes = align(o + p.byteLength, alignment);
        return o;
      });
      let uniformBuffer: GPUBuffer | undefined;
      if (uniformBytes > 0) {
        uniformBuffer = owner.create({ label: `${label}.uniforms`, size: uniformBytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        const all = new Uint8Array(uniformBytes);
        packed.forEach((p, i) => p && all.set(new Uint8Array(p), offsets[i]));
        device.queue.writeBuffer(uniformBuffer, 0, all);
      }

      // 4. Bind groups, each checked against its WGSL.
      const steps = dispatches.map((d, i): CompiledStep => {
        const kernel = kernels[i];
        const resources: Record<string, BufferSlice> = {};
        for (const [name, b] of Object.entries(d.bindings)) resources[name] = resolve(b, tensors);
        if (kernel.info.uniform && kernel.info.uniform.name in d.bindings) {
          throw new WebvitError('BINDING_MISMATCH', `${d.label} (${d.source.kernel}): binding ${kernel.info.uniform.name} is the uniform the runtime fills from Dispatch.uniforms; do not bind it`);
        }
        const u = kernel.info.uniform;
        if (u) resources[u.name] = { buffer: uniformBuffer!, offset: offsets[i], size: packed[i]!.byteLength };
        else if (d.uniforms) throw new WebvitError('BINDING_MISMATCH', `${d.label} (${d.source.kernel}): uniform values given but the WGSL declares no uniform`);
        const bindGroup = createCheckedBindGroup(device, d.label, kernel.info, kernel.layout, resources);
        // The WGSL knows element types only; the dispatch knows how many elements it touches.
        for (const [name, r] of Object.entries(resources)) {
          if (name === kernel.info.uniform?.name) continue;
          const size = r.size ?? r.buffer.size - (r.offset ?? 0);
          const need = d.sizes[name];
          if (need === undefined) throw new WebvitError('BINDING_MISMATCH', `${d.label} (${d.source.kernel}): binding ${name} has no stated size (Dispatch.sizes)`);
          if (size < need) throw new WebvitError('BINDING_MISMATCH', `${d.label} (${d.source.kernel}): binding ${name} is ${size} bytes but this dispatch reads or writes ${need}`);
        }
        return { dispatch: d, kernel, bindGroup };
      });

      // Outputs sit at multiples of 8 bytes in the readback buffer: getMappedRange needs offsets
      // that are (a tensor of an odd number of floats, e.g. a [B, T, T] attention matrix, would
      // put the next one at 4 mod 8).
      const outBytes = io.outputs.reduce((a, n) => a + align(tensors.get(n)!.size, 8), 0);
      const readback = owner.create({ label: `${label}.readback`, size: Math.max(4, outBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const validation = await popScope();
      const oom = await popScope();
      if (validation) throw new WebvitError('GPU', `${label}: GPU validation error while building the plan: ${validation.message}`);
      if (oom) throw new WebvitError('GPU', `${label}: out of GPU memory while building the plan (activations ${arena.totalBytes} bytes): ${oom.message}. Try a smaller batch.`);
      await warmUp(device, label, steps, fresh, options.onCompile);
      return new Plan(device, label, steps, tensors, io, readback, owner, arena.totalBytes);
    } catch (e) {
      owner.destroyAll();
      // Close the error scopes we opened if we threw before popping them.
      while (openScopes > 0) await popScope().catch(() => undefined);
      throw e;
    }
  }

  get dispatchCount(): number {
    return this.steps.length;
  }

  /** Kernel name of each step, in order. */
  get kernels(): { label: string; kernel: string }[] {
    return this.steps.map((s) => ({ label: s.dispatch.label, kernel: s.dispatch.source.kernel }));
  }

  /**
   * Writes the inputs (CPU bytes by writeBuffer; an InputWriter's GPU work recorded first in the
   * same command buffer), runs every dispatch in one compute pass, reads the outputs back.
   */
  run(inputs: Record<string, ArrayBufferView | InputWriter>, options: RunOptions = {}): Promise<Record<string, Float32Array>> {
    const release = () => releaseAll(inputs);
    let outputs: string[];
    try {
      outputs = this.outputsOf(options);
    } catch (e) {
      release();
      return Promise.reject(e);
    }
    return this.serialise(async () => {
      try {
        const encoder = this.device.createCommandEncoder({ label: `${this.label}.forward` });
        await this.writeInputs(inputs, encoder);
        const pass = encoder.beginComputePass({ label: `${this.label}.forward` });
        for (const s of this.steps) encodeStep(pass, s);
        pass.end();
        const out = await this.finish(encoder, outputs, this.wait);
        this.markRun();
        return out;
      } finally {
        release();
      }
    }, release);
  }

  /**
   * Copies `data`, the bytes of input `name`, into a mapped staging buffer now, and returns what
   * run() takes in its place: the caller may reuse its array at once, and the run copies the
   * bytes to the input tensor on the GPU. One CPU copy instead of two (a copy made at call time,
   * then writeBuffer's own). Undefined when this input's staging buffers are all in use (runs
   * still in flight): copy the data and give run() the copy instead.
   */
  stage(name: string, data: ArrayBufferView): StagedInput | undefined {
    if (this.destroyed) return undefined;
    const t = this.tensors.get(name);
    if (!t || !this.io.inputs.includes(name)) throw new WebvitError('BAD_ARGUMENT', `${this.label}: ${name} is not an input of this plan; inputs: ${this.io.inputs.join(', ')}`);
    if (data.byteLength !== t.size) throw new WebvitError('BAD_INPUT', `${this.label}: input ${name} has ${data.byteLength} bytes, expected ${t.size}`);
    const pool = this.staging.get(name) ?? [];
    this.staging.set(name, pool);
    let s = pool.find((p) => p.state === 'mapped');
    if (!s) {
      if (pool.length >= STAGING_PER_INPUT || t.size % 4 !== 0) return undefined;
      const buffer = this.owner.create({ label: `${this.label}.${name}.staging${pool.length}`, size: t.size, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      pool.push((s = { buffer, state: 'mapped' }));
    }
    try {
      new Uint8Array(s.buffer.getMappedRange(0, t.size)).set(bytesOf(data));
    } catch {
      // Unmapped under us: the device was destroyed or lost. Drop the buffer; the caller copies
      // instead, and its run reports the loss.
      pool.splice(pool.indexOf(s), 1);
      this.owner.release(s.buffer);
      return undefined;
    }
    s.buffer.unmap();
    s.state = 'held';
    return new StagedInput(this, t.size, s, (st) => this.remap(name, st));
  }

  /**
   * Maps a staging buffer again once its run is over (not at its submit: a map pending through the
   * run would keep Dawn for Node's event pump spinning through the sleep in finish()); one that
   * cannot be mapped (destroyed, device lost) leaves the pool.
   */
  private remap(name: string, s: Staging): void {
    s.state = 'mapping';
    s.buffer.mapAsync(GPUMapMode.WRITE).then(
      () => {
        if (s.state === 'mapping') s.state = 'mapped';
      },
      () => {
        const pool = this.staging.get(name);
        const i = pool?.indexOf(s) ?? -1;
        if (i >= 0) pool!.splice(i, 1);
        if (!this.destroyed) this.owner.release(s.buffer);
      },
    );
  }

  /**
   * Records every dispatch into one compute pass of `encoder`, for a plan with no inputs or
   * outputs of its own (fixed buffers: the image preprocessor's passes); the caller submits it.
   */
  record(encoder: GPUCommandEncoder): void {
    if (this.destroyed) throw new WebvitError('DISPOSED', `${this.label}: the plan was destroyed`);
    if (this.io.inputs.length || this.io.outputs.length) throw new WebvitError('BAD_ARGUMENT', `${this.label}: record() is for plans without inputs or outputs; use run()`);
    const pass = encoder.beginComputePass({ label: this.label });
    for (const s of this.steps) encodeStep(pass, s);
    pass.end();
    this.markRun();
  }

  /**
   * Runs once with per-dispatch timing: GPU timestamps around each dispatch (one pass each) when
   * the device has timestamp-query, otherwise submit-and-wait wall time per dispatch.
   */
  profile(inputs: Record<string, ArrayBufferView | InputWriter>, options: RunOptions = {}): Promise<PlanProfile & { outputs: Record<string, Float32Array> }> {
    let names: string[];
    try {
      names = this.outputsOf(options);
    } catch (e) {
      releaseAll(inputs);
      return Promise.reject(e);
    }
    return this.serialise(async () => {
      // GPU-written inputs go first, in a command buffer of their own, so they are not timed.
      const inputEncoder = this.device.createCommandEncoder({ label: `${this.label}.inputs` });
      try {
        await this.writeInputs(inputs, inputEncoder);
        this.device.queue.submit([inputEncoder.finish()]);
      } finally {
        releaseAll(inputs);
      }
      const n = this.steps.length;
      const timings: DispatchTiming[] = [];
      let method: PlanProfile['method'];
      let outputs: Record<string, Float32Array>;
      if (this.device.features.has('timestamp-query')) {
        method = 'timestamp-query';
        const querySet = this.device.createQuerySet({ label: `${this.label}.timestamps`, type: 'timestamp', count: 2 * n });
        const resolveBuf = this.device.createBuffer({ label: `${this.label}.timestamps.resolve`, size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
        const readBuf = this.device.createBuffer({ label: `${this.label}.timestamps.read`, size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        try {
          const encoder = this.device.createCommandEncoder({ label: `${this.label}.profile` });
          this.steps.forEach((s, i) => {
            const pass = encoder.beginComputePass({
              label: s.dispatch.label,
              timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
            });
            encodeStep(pass, s);
            pass.end();
          });
          encoder.resolveQuerySet(querySet, 0, 2 * n, resolveBuf, 0);
          encoder.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, 16 * n);
          outputs = await this.finish(encoder, names, this.wait);
          await readBuf.mapAsync(GPUMapMode.READ);
          const t = new BigUint64Array(readBuf.getMappedRange().slice(0));
          readBuf.unmap();
          this.steps.forEach((s, i) => timings.push(timing(s, Number(t[2 * i + 1] - t[2 * i]) / 1e6)));
        } finally {
          querySet.destroy();
          resolveBuf.destroy();
          readBuf.destroy();
        }
      } else {
        method = 'wall-clock';
        for (const s of this.steps) {
          const encoder = this.device.createCommandEncoder({ label: s.dispatch.label });
          const pass = encoder.beginComputePass({ label: s.dispatch.label });
          encodeStep(pass, s);
          pass.end();
          const t0 = performance.now();
          this.device.queue.submit([encoder.finish()]);
          await this.device.queue.onSubmittedWorkDone();
          timings.push(timing(s, performance.now() - t0));
        }
        outputs = await this.finish(this.device.createCommandEncoder({ label: `${this.label}.readback` }), names);
      }
      this.markRun();
      return { method, dispatches: timings, totalMs: timings.reduce((a, d) => a + d.ms, 0), outputs };
    }, () => releaseAll(inputs));
  }

  /**
   * Refuses new runs (DISPOSED) at once, and frees the plan's buffers once the runs already
   * queued on it have finished: a run in flight never sees its buffers destroyed under it.
   */
  destroy(): Promise<void> {
    if (!this.destroyed) {
      this.destroyed = true;
      this.freed = this.queue.then(() => this.owner.destroyAll());
    }
    return this.freed;
  }

  /** Every kernel of this plan has now run on the device: later plans need not warm it up. */
  private markRun(): void {
    const cache = pipelineCacheFor(this.device);
    for (const s of this.steps) cache.markRun(s.dispatch.source.key);
  }

  /** Queues `fn` behind the runs before it; `refused` is called when the plan is destroyed already. */
  private serialise<T>(fn: () => Promise<T>, refused?: () => void): Promise<T> {
    if (this.destroyed) {
      refused?.();
      return Promise.reject(new WebvitError('DISPOSED', `${this.label}: the model was disposed`));
    }
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private outputsOf(options: RunOptions): string[] {
    const names = options.outputs ?? this.io.outputs;
    for (const n of names) {
      if (!this.io.outputs.includes(n)) throw new WebvitError('BAD_ARGUMENT', `${this.label}: ${n} is not an output of this plan; outputs: ${this.io.outputs.join(', ')}`);
    }
    return names;
  }

  private async writeInputs(inputs: Record<string, ArrayBufferView | InputWriter>, encoder: GPUCommandEncoder): Promise<void> {
    for (const name of this.io.inputs) {
      const data = inputs[name];
      const t = this.tensors.get(name)!;
      if (!data) throw new WebvitError('BAD_INPUT', `${this.label}: input ${name} not given`);
      if (data.byteLength !== t.size) {
        throw new WebvitError('BAD_INPUT', `${this.label}: input ${name} has ${data.byteLength} bytes, expected ${t.size}`);
      }
      if (data instanceof StagedInput && data.plan !== this) throw new WebvitError('BAD_ARGUMENT', `${this.label}: input ${name} was staged on plan ${data.plan.label}`);
      if (isInputWriter(data)) await data.write({ buffer: t.buffer, offset: t.offset ?? 0, size: t.size }, encoder);
      else writeBytes(this.device, t.buffer, t.offset ?? 0, data);
    }
  }

  /**
   * Copies the outputs to the readback buffer, submits, and reads them back. With `wait` on a
   * device that polls (Dawn for Node), first sleeps through most of the expected GPU time.
   * Nothing else may be pending on the device meanwhile (a staged input is mapped again only
   * after this returns), or the pump would run through the sleep anyway.
   */
  private async finish(encoder: GPUCommandEncoder, outputs: string[], wait?: WaitEstimate): Promise<Record<string, Float32Array>> {
    let offset = 0;
    const places: [string, number, number][] = [];
    for (const name of outputs) {
      const t = this.tensors.get(name)!;
      encoder.copyBufferToBuffer(t.buffer, t.offset ?? 0, this.readback, offset, t.size);
      places.push([name, offset, t.size]);
      offset += align(t.size, 8);
    }
    this.device.pushErrorScope('validation');
    this.device.queue.submit([encoder.finish()]);
    const submitted = performance.now();
    const err = await this.device.popErrorScope();
    if (err) throw new WebvitError('GPU', `${this.label}: GPU validation error in the forward pass: ${err.message}`);
    const nap = wait && pollsWhileWaiting(this.device) ? wait.sleepMs() : 0;
    if (nap > 0) await sleep(nap);
    try {
      await this.readback.mapAsync(GPUMapMode.READ);
    } catch (e) {
      throw await readbackFailure(this.device, this.label, e);
    }
    wait?.record(performance.now() - submitted);
    try {
      const out: Record<string, Float32Array> = {};
      for (const [name, o, size] of places) out[name] = new Float32Array(this.readback.getMappedRange(o, size).slice(0));
      return out;
    } finally {
      this.readback.unmap();
    }
  }
}

/**
 * The error for a readback whose map failed: DEVICE_LOST (with the reason and what to do) when the
 * device was lost or destroyed, else GPU naming the failure. Dawn rejects the map with a bare
 * AbortError, and may resolve `device.lost` a moment later: it is waited for briefly.
 */
async function readbackFailure(device: GPUDevice, label: string, e: unknown): Promise<WebvitError> {
  const info = await Promise.race([device.lost, sleep(200).then(() => undefined)]);
  if (info) {
    return new WebvitError(
      'DEVICE_LOST',
      `${label}: the GPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''}); request a new device and load the model again`,
      { cause: e },
    );
  }
  const err = e as Error;
  return new WebvitError('GPU', `${label}: reading the results back failed (${err?.name ?? 'error'}${err?.message ? `: ${err.message}` : ''})`, { cause: e });
}

/** Tells every InputWriter among `inputs` that its run is over (idempotent for staged inputs). */
function releaseAll(inputs: Record<string, ArrayBufferView | InputWriter>): void {
  for (const v of Object.values(inputs)) if (isInputWriter(v)) v.release?.();
}

/**
 * When each activation tensor is first and last used (step indices). Inputs live from before the
 * first step, outputs until after the last. A tensor must keep one size everywhere it is bound.
 */
export function tensorLifetimes(label: string, dispatches: Dispatch[], io: PlanIO): Map<string, TensorLife> {
  const lives = new Map<string, TensorLife>();
  dispatches.forEach((d, step) => {
    for (const [bname, b] of Object.entries(d.bindings)) {
      if (!isTensorRef(b)) continue;
      const life = lives.get(b.tensor);
      if (!life) lives.set(b.tensor, { name: b.tensor, bytes: b.bytes, first: step, last: step });
      else {
        if (life.bytes !== b.bytes) {
          throw new WebvitError('BINDING_MISMATCH', `${d.label}: tensor ${b.tensor} bound as ${bname} with ${b.bytes} bytes, but it was ${life.bytes} bytes before`);
        }
        life.last = step;
      }
    }
  });
  for (const name of [...io.inputs, ...io.outputs]) {
    if (!lives.has(name)) throw new WebvitError('BINDING_MISMATCH', `${label}: plan input/output ${name} is not used by any dispatch`);
  }
  for (const name of io.inputs) lives.get(name)!.first = -1;
  for (const name of io.outputs) lives.get(name)!.last = dispatches.length;
  return lives;
}

/**
 * Runs one workgroup of the first step of each kernel that has never run on this device, one
 * submit each, and reports each as compiled. CPU drivers (lavapipe, SwiftShader) compile a
 * pipeline to machine code at its first dispatch, not when it is created: without this the first
 * forward pass would silently take all the compile time (up to seconds per kernel there); GPU
 * drivers compile at creation, and this costs them a few tiny submits once per kernel.
 * Only steps whose writable bindings are all this plan's activation tensors are run: every run
 * rewrites those before reading them, so the partial results left here are never seen. A kernel
 * that writes into a buffer the plan does not own (a standalone dispatch, the image
 * preprocessor) is left to compile at its first real run.
 */
async function warmUp(device: GPUDevice, label: string, steps: CompiledStep[], fresh: Set<string>, report?: ProgressCallback): Promise<void> {
  const cache = pipelineCacheFor(device);
  const firsts = new Map<string, CompiledStep>();
  for (const s of steps) {
    const key = s.dispatch.source.key;
    if (!fresh.has(key) || firsts.has(key)) continue;
    const writesOutside = s.kernel.info.bindings.some((b) => b.kind === 'storage' && !isTensorRef(s.dispatch.bindings[b.name]));
    if (!writesOutside) firsts.set(key, s);
  }
  // Kernels that cannot be warmed up count as done: they are created and compile at first use.
  let done = fresh.size - firsts.size;
  if (done > 0) report?.({ stage: 'compile', done, total: fresh.size });
  for (const [key, s] of firsts) {
    if (!cache.hasRun(key)) {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder({ label: `${label}.warmup` });
      const pass = encoder.beginComputePass({ label: `${s.dispatch.label}.warmup` });
      pass.setPipeline(s.kernel.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(1, 1, 1);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const err = await device.popErrorScope();
      if (err) throw new WebvitError('GPU', `${s.dispatch.label} (${s.dispatch.source.kernel}): GPU validation error on the kernel's first run: ${err.message}`);
      await device.queue.onSubmittedWorkDone();
      cache.markRun(key);
    }
    report?.({ stage: 'compile', done: ++done, total: fresh.size, detail: `${s.dispatch.source.kernel} (${s.dispatch.label})` });
  }
}

function encodeStep(pass: GPUComputePassEncoder, s: CompiledStep): void {
  pass.setPipeline(s.kernel.pipeline);
  pass.setBindGroup(0, s.bindGroup);
  pass.dispatchWorkgroups(...s.dispatch.workgroups);
}

function timing(s: CompiledStep, ms: number): DispatchTiming {
  return { label: s.dispatch.label, kernel: s.dispatch.source.kernel, ms, flops: s.dispatch.flops, bytes: s.dispatch.bytes };
}

function resolve(b: Binding, tensors: Map<string, BufferSlice & { size: number }>): BufferSlice {
  return isTensorRef(b) ? tensors.get(b.tensor)! : b;
}

export const align = (n: number, a: number): number => Math.ceil(n / a) * a;
