/**
 * Watches every GPUBuffer made on a device (by wrapping `device.createBuffer`, and each buffer's
 * `destroy`), so that a test can say which buffers are still live after a model or plan is done
 * with them. Optionally makes the n-th createBuffer throw, to fail a load part-way.
 */
export interface TrackedBuffer {
  label: string;
  size: number;
  usage: number;
  destroyed: boolean;
}

export interface BufferTracker {
  /** Every buffer created since tracking started, in order. */
  readonly created: TrackedBuffer[];
  /** Buffers created since tracking started and not destroyed. */
  live(): TrackedBuffer[];
  /** One line per live buffer, for failure messages. */
  describeLive(): string;
  /** Puts the device's own createBuffer back. */
  restore(): void;
}

export class InjectedFailure extends Error {
  constructor(readonly at: number, label: string | undefined) {
    super(`injected failure at createBuffer #${at} (${label ?? 'unlabelled'})`);
    this.name = 'InjectedFailure';
  }
}

export function trackBuffers(device: GPUDevice, options: { failAt?: number } = {}): BufferTracker {
  const created: TrackedBuffer[] = [];
  const hadOwn = Object.prototype.hasOwnProperty.call(device, 'createBuffer');
  const previous = device.createBuffer;
  let calls = 0;
  (device as { createBuffer: GPUDevice['createBuffer'] }).createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor): GPUBuffer {
    calls++;
    if (options.failAt === calls) throw new InjectedFailure(calls, desc.label);
    const buffer = previous.call(this, desc);
    const entry: TrackedBuffer = { label: desc.label ?? '', size: desc.size, usage: desc.usage, destroyed: false };
    created.push(entry);
    const destroy = buffer.destroy;
    (buffer as { destroy: () => void }).destroy = function (this: GPUBuffer) {
      entry.destroyed = true;
      return destroy.call(this);
    };
    return buffer;
  };
  const live = () => created.filter((b) => !b.destroyed);
  return {
    created,
    live,
    describeLive: () => live().map((b) => `${b.label} (${b.size} bytes)`).join(', ') || '(none)',
    restore: () => {
      if (hadOwn) (device as { createBuffer: GPUDevice['createBuffer'] }).createBuffer = previous;
      else delete (device as { createBuffer?: unknown }).createBuffer;
    },
  };
}

/**
 * Whether the device's error-scope stack is empty: popping an empty stack rejects. Code that
 * pushes scopes and throws before popping them would leave later GPU errors silently captured.
 */
export async function errorScopesEmpty(device: GPUDevice): Promise<boolean> {
  try {
    await device.popErrorScope();
    return false;
  } catch {
    return true;
  }
}
