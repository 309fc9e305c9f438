import type { Dispatch } from '../kernels/kernel.js';
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

  static async create(device: GPUDevice, make: (b: Record<string, BufferSlice>) => Dispatch, io: StandaloneIO): Promise<StandaloneDispatch> {
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
      const plan = await Plan.compile(device, `standalone.${dispatch.label}`, [dispatch], { inputs: [], outputs: [] });
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
    return { ms: p.totalMs, method: p.method };
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
