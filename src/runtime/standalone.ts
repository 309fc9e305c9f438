import { isCpuAdapter, type Dispatch } from '../kernels/kernel.js';
import { WebvitError } from './errors.js';
import { BufferOwner, readback, upload } from './buffers.js';
import { Plan, type PlanProfile } from './plan.js';
import type { BufferSlice } from './shader.js';

export interface StandaloneIO {
  /** Input arrays by binding name, uploaded once. */
  inputs: Record<string, Float32Array>;
  /** Output element counts by binding name. */
  outputs: Record<string, number>;
}

export interface StandaloneOptions {
  /**
   * Dispatches per run, back to back in one command buffer (default 1). With more than one,
   * time() reports the median of the repeats after the first: a kernel timed the way it runs in
   * a model, behind other work, not after the GPU sat idle (on the H200 single dispatches timed
   * alone came out 2–4× slower than the same kernels in a model's profile).
   */
  repeat?: number;
}

/** Repeats for timing on this adapter: back-to-back dispatches on a GPU; one on a CPU adapter, where each is slow and steady. */
export const timingRepeats = (device: GPUDevice): number => (isCpuAdapter(device) ? 1 : 4);

/**
 * One dispatch with its own buffers, outside any model: how kernel tests and the kernel benchmark
 * run a kernel exactly the way the runtime does (reflection-checked bind group, cached pipeline,
 * one compute pass). Outputs can be poisoned before a run so unwritten elements show.
 */
export class StandaloneDispatch {
  private constructor(
    readonly device: GPUDevice,
    readonly dispatch: Dispatch,
    private readonly plan: Plan,
    private readonly buffers: Record<string, GPUBuffer>,
    private readonly io: StandaloneIO,
    private readonly owner: BufferOwner,
  ) {}

  static async create(device: GPUDevice, make: (b: Record<string, BufferSlice>) => Dispatch, io: StandaloneIO, options: StandaloneOptions = {}): Promise<StandaloneDispatch> {
    const repeat = options.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1) throw new WebvitError('BAD_ARGUMENT', `standalone: repeat must be a whole number ≥ 1, got ${repeat}`);
    const owner = new BufferOwner(device);
    try {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      const buffers: Record<string, GPUBuffer> = {};
      const slices: Record<string, BufferSlice> = {};
      for (const [name, data] of Object.entries(io.inputs)) {
        const s = upload(owner, `standalone.${name}`, data, usage);
        buffers[name] = s.buffer;
        slices[name] = s;
      }
      for (const [name, n] of Object.entries(io.outputs)) {
        buffers[name] = owner.create({ label: `standalone.${name}`, size: Math.max(16, 4 * n), usage });
        slices[name] = { buffer: buffers[name], offset: 0, size: 4 * n };
      }
      const dispatch = make(slices);
      // The same dispatch `repeat` times: it reads its inputs and writes `out`, so repeats give the same bits.
      const plan = await Plan.compile(device, `standalone.${dispatch.label}`, Array.from({ length: repeat }, () => dispatch), { inputs: [], outputs: [] });
      return new StandaloneDispatch(device, dispatch, plan, buffers, io, owner);
    } catch (e) {
      owner.destroyAll();
      throw e;
    }
  }

  /** Fills every output with `value` (NaN by default) so that unwritten elements show. */
  poison(value = Number.NaN): void {
    for (const [name, n] of Object.entries(this.io.outputs)) {
      this.device.queue.writeBuffer(this.buffers[name], 0, new Float32Array(n).fill(value));
    }
  }

  async run(): Promise<void> {
    await this.plan.run({});
  }

  /** GPU time of the dispatch (timestamp queries), or submit-and-wait wall time without them. */
  async time(): Promise<{ ms: number; method: PlanProfile['method'] }> {
    const p = await this.plan.profile({});
    if (p.dispatches.length === 1) return { ms: p.totalMs, method: p.method };
    const ms = p.dispatches.slice(1).map((d) => d.ms).sort((a, b) => a - b);
    return { ms: ms[Math.floor(ms.length / 2)], method: p.method };
  }

  async read(name: string): Promise<Float32Array> {
    const n = this.io.outputs[name];
    if (n === undefined) throw new WebvitError('BAD_ARGUMENT', `standalone ${this.dispatch.label}: ${name} is not an output; outputs: ${Object.keys(this.io.outputs).join(', ')}`);
    return new Float32Array(await readback(this.device, this.buffers[name], 0, 4 * n, 'standalone.read'));
  }

  destroy(): void {
    this.plan.destroy();
    this.owner.destroyAll();
  }
}
