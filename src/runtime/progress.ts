/**
 * What a model load reports while it works, for a progress line: `compile` counts the kernels
 * that have been compiled and run once (CPU drivers such as lavapipe compile a kernel at its first
 * dispatch, which is why it is run once at load), `tune` counts the (op, shape) problems whose
 * variants are being timed. `detail` names the kernel or problem just finished (or, at done 0,
 * nothing yet). Events of one stage come in order, from done 0 to done = total.
 */
export interface LoadProgress {
  stage: 'compile' | 'tune';
  done: number;
  total: number;
  detail?: string;
}

export type ProgressCallback = (e: LoadProgress) => void;
