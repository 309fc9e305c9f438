import { unavailableReason, type VariantNeeds } from '../../src/kernels/kernel.js';
import type { OpDefinition } from '../../src/kernels/definition.js';
import { variantNeeds } from '../../src/kernels/registry.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { StandaloneDispatch, type StandaloneIO } from '../../src/runtime/standalone.js';
import type { Dispatch } from '../../src/kernels/kernel.js';
import type { BufferSlice } from '../../src/runtime/shader.js';

let devicePromise: Promise<GPUDevice> | undefined;

/** One device per test file (vitest runs files in separate workers). */
export function testDevice(): Promise<GPUDevice> {
  devicePromise ??= getNodeDevice();
  return devicePromise;
}

/**
 * Runs one dispatch the way the runtime does (checked bind group, pipeline cache, one pass),
 * with explicit buffers: inputs uploaded, outputs poisoned with NaN, then read back.
 * Every buffer it makes is destroyed before it returns.
 */
export async function runDispatch(device: GPUDevice, make: (buffers: Record<string, BufferSlice>) => Dispatch, io: StandaloneIO): Promise<Record<string, Float32Array>> {
  const s = await StandaloneDispatch.create(device, make, io);
  try {
    s.poison();
    await s.run();
    const out: Record<string, Float32Array> = {};
    for (const name of Object.keys(io.outputs)) out[name] = await s.read(name);
    return out;
  } finally {
    s.destroy();
  }
}

/**
 * Skips the running test (with a line saying why) when the test device cannot run this variant:
 * variants that need a feature the adapter lacks are skipped, not failed.
 */
export function skipIfUnavailable(ctx: { skip: () => void }, device: GPUDevice, op: string | OpDefinition, variant: string): void {
  const needs = typeof op === 'string' ? variantNeeds(op, variant) : (op.variants as Record<string, VariantNeeds>)[variant];
  const name = typeof op === 'string' ? op : op.name;
  const why = unavailableReason(device, needs);
  if (why) {
    console.log(`${name}/${variant}: skipped, ${why}`);
    ctx.skip();
  }
}
