import { getNodeDevice } from '../../src/runtime/node-device.js';
import { Plan } from '../../src/runtime/plan.js';
import type { Dispatch } from '../../src/kernels/kernel.js';
import type { BufferSlice } from '../../src/runtime/shader.js';

let devicePromise: Promise<GPUDevice> | undefined;

/** One device per test file (vitest runs files in separate workers). */
export function testDevice(): Promise<GPUDevice> {
  devicePromise ??= getNodeDevice();
  return devicePromise;
}

/** Poison value written into every output before a run, so unwritten elements show up as NaN. */
export const POISON = Number.NaN;

export interface KernelRun {
  /** Input arrays by binding name. */
  inputs: Record<string, Float32Array>;
  /** Output element counts by binding name; these are poisoned before the run. */
  outputs: Record<string, number>;
}

/**
 * Runs one dispatch the way the runtime does (checked bind group, pipeline cache, one pass),
 * with explicit buffers: inputs uploaded, outputs poisoned with NaN, then read back.
 * Every buffer it makes is destroyed before it returns.
 */
export async function runDispatch(device: GPUDevice, make: (buffers: Record<string, BufferSlice>) => Dispatch, run: KernelRun): Promise<Record<string, Float32Array>> {
  const buffers: Record<string, GPUBuffer> = {};
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  let plan: Plan | undefined;
  try {
    for (const [name, data] of Object.entries(run.inputs)) {
      buffers[name] = device.createBuffer({ label: `test.${name}`, size: Math.max(16, data.byteLength), usage });
      device.queue.writeBuffer(buffers[name], 0, data as Float32Array<ArrayBuffer>);
    }
    for (const [name, n] of Object.entries(run.outputs)) {
      buffers[name] = device.createBuffer({ label: `test.${name}`, size: Math.max(16, n * 4), usage });
      device.queue.writeBuffer(buffers[name], 0, new Float32Array(n).fill(POISON));
    }
    // Bind exactly the element counts, not the padded buffer sizes.
    const slices: Record<string, BufferSlice> = {};
    for (const [name, buffer] of Object.entries(buffers)) {
      slices[name] = { buffer, offset: 0, size: 4 * (run.inputs[name]?.length ?? run.outputs[name]) };
    }
    const dispatch = make(slices);
    plan = await Plan.compile(device, `test.${dispatch.label}`, [dispatch], { inputs: [], outputs: [] });
    await plan.run({});
    const out: Record<string, Float32Array> = {};
    for (const [name, n] of Object.entries(run.outputs)) out[name] = await readBuffer(device, buffers[name], n);
    return out;
  } finally {
    plan?.destroy();
    for (const b of Object.values(buffers)) b.destroy();
  }
}

export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Float32Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
  }
}
