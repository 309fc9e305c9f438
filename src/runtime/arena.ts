import { WebvitError } from './errors.js';

/**
 * Liveness-based placement of a plan's activation tensors into a few reusable buffers.
 *
 * Each tensor lives from the step that first touches it to the step that last does. Tensors are
 * placed in order of first use; a tensor may take a buffer whose current occupant's life ended
 * strictly before it begins (so no dispatch ever reads and writes the same buffer), preferring the
 * smallest buffer that fits, else the largest free one (which then grows). In a ViT this gives a
 * handful of buffers whatever the depth: the activation memory of one block, not of the model.
 */
export interface TensorLife {
  name: string;
  bytes: number;
  first: number;
  last: number;
}

export interface ArenaAssignment {
  /** Size of each physical buffer, in bytes. */
  buffers: number[];
  /** Tensor name -> buffer index. */
  slot: Map<string, number>;
  totalBytes: number;
}

export function assignBuffers(tensors: TensorLife[]): ArenaAssignment {
  const sorted = [...tensors].sort((a, b) => a.first - b.first || b.bytes - a.bytes);
  const sizes: number[] = [];
  const freeAfter: number[] = []; // last step of the buffer's current occupant
  const slot = new Map<string, number>();
  for (const t of sorted) {
    if (t.last < t.first) throw new WebvitError('BAD_ARGUMENT', `arena: tensor ${t.name} dies (step ${t.last}) before it is born (step ${t.first})`);
    let best = -1;
    for (let i = 0; i < sizes.length; i++) {
      if (freeAfter[i] >= t.first) continue;
      if (best < 0) { best = i; continue; }
      const fits = sizes[i] >= t.bytes;
      const bestFits = sizes[best] >= t.bytes;
      if (fits && (!bestFits || sizes[i] < sizes[best])) best = i;
      else if (!fits && !bestFits && sizes[i] > sizes[best]) best = i;
    }
    if (best < 0) {
      best = sizes.length;
      sizes.push(0);
      freeAfter.push(-1);
    }
    sizes[best] = Math.max(sizes[best], t.bytes);
    freeAfter[best] = t.last;
    slot.set(t.name, best);
  }
  return { buffers: sizes, slot, totalBytes: sizes.reduce((a, b) => a + b, 0) };
}
