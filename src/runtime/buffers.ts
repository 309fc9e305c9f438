import type { BufferSlice } from '../kernels/kernel.js';
import { WebvitError } from './errors.js';

/**
 * GPU buffers: who owns them, how data goes up and how it comes back. Every buffer the runtime,
 * the model or the image preprocessor makes goes through a BufferOwner, every upload through
 * `upload` and every read through `readback`, so the padding rules (sizes rounded to whole u32
 * words, at least 16 bytes; an odd number of f16 halves padded with a zero half) live here once.
 */

/** Buffers every BufferOwner of a device holds now, and their bytes. */
export interface LiveBuffers {
  buffers: number;
  bytes: number;
}

const liveByDevice = new WeakMap<GPUDevice, LiveBuffers>();

/**
 * GPU buffers webvit's owners hold on `device` now (weights, plans, preprocessing; not the
 * short-lived readback copies): what the web API's stats() report, and what must stay flat when
 * the same work is repeated.
 */
export function liveBuffers(device: GPUDevice): LiveBuffers {
  const l = liveByDevice.get(device);
  return { buffers: l?.buffers ?? 0, bytes: l?.bytes ?? 0 };
}

function count(device: GPUDevice, buffers: number, bytes: number): void {
  let l = liveByDevice.get(device);
  if (!l) liveByDevice.set(device, (l = { buffers: 0, bytes: 0 }));
  l.buffers += buffers;
  l.bytes += bytes;
}

/** Tracks every GPU buffer a plan, model or preprocessor makes, so a failure part-way frees them all. */
export class BufferOwner {
  private readonly buffers: GPUBuffer[] = [];
  constructor(readonly device: GPUDevice) {}
  create(desc: GPUBufferDescriptor): GPUBuffer {
    const b = this.device.createBuffer(desc);
    this.buffers.push(b);
    count(this.device, 1, b.size);
    return b;
  }
  get bytes(): number {
    return this.buffers.reduce((a, b) => a + b.size, 0);
  }
  /** Destroys one buffer this owner made and stops tracking it. */
  release(b: GPUBuffer): void {
    const i = this.buffers.indexOf(b);
    if (i >= 0) {
      this.buffers.splice(i, 1);
      count(this.device, -1, -b.size);
    }
    b.destroy();
  }
  destroyAll(): void {
    for (const b of this.buffers) b.destroy();
    count(this.device, -this.buffers.length, -this.bytes);
    this.buffers.length = 0;
  }
}

/** Bytes a buffer for `bytes` of data is made with: whole u32 words, at least 16 (WebGPU refuses empty bindings). */
export const bufferSize = (bytes: number): number => Math.max(16, Math.ceil(bytes / 4) * 4);

/** The bytes of a typed array, as one Uint8Array view (no copy). */
export const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * A new buffer owned by `owner` holding `data`, and the slice of it the data fills. The size is
 * rounded up to whole u32 words; `writeBuffer` copies only multiples of 4 bytes, so a tail of 2
 * bytes (an odd number of f16 halves: matmul weights that stay half) is written as one word
 * padded with a zero half.
 */
export function upload(owner: BufferOwner, label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST): BufferSlice & { buffer: GPUBuffer; size: number } {
  // A weight over one binding (a 21,843-class head on a wide model passes the default 128 MiB):
  // named here, not by Dawn's validation after the whole upload (hostile round twelve).
  const limit = owner.device.limits.maxStorageBufferBindingSize;
  if (usage & GPUBufferUsage.STORAGE && data.byteLength > limit) throw new WebvitError('DEVICE_LIMITS', `${label} is ${data.byteLength} bytes; this device binds at most ${limit} in one buffer (a matmul weight in F16 takes half)`);
  const buffer = owner.create({ label, size: bufferSize(data.byteLength), usage: usage | GPUBufferUsage.COPY_DST });
  writeBytes(owner.device, buffer, 0, data);
  return { buffer, offset: 0, size: data.byteLength };
}

/** Writes `data` at `offset` of `buffer` (queue order), padding a tail that is not a whole u32 word with zeros. */
export function writeBytes(device: GPUDevice, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  const bytes = bytesOf(data);
  const whole = bytes.byteLength & ~3;
  if (whole > 0) device.queue.writeBuffer(buffer, offset, bytes.buffer as ArrayBuffer, bytes.byteOffset, whole);
  if (whole !== bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    device.queue.writeBuffer(buffer, offset + whole, tail);
  }
}

/**
 * Copies `size` bytes at `offset` of `source` into a mappable buffer and returns them (one submit
 * and one map). For reads outside a plan; a plan reads its outputs through its own buffer.
 */
export async function readback(device: GPUDevice, source: GPUBuffer, offset: number, size: number, label = `${source.label}.read`): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label, size: bufferSize(size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder({ label });
    enc.copyBufferToBuffer(source, offset, staging, 0, Math.ceil(size / 4) * 4);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange(0, Math.ceil(size / 4) * 4).slice(0, size);
  } finally {
    staging.destroy();
  }
}
