import { unavailableReason, type Dispatch, type VariantNeeds } from '../src/kernels/kernel.js';
import type { BufferSlice } from '../src/runtime/shader.js';
import { StandaloneDispatch, timingRepeats } from '../src/runtime/standalone.js';
import { relL2 } from '../src/kernels/reference_math.js'; // the same measure the tests use

/**
 * A kernel benchmark is a small declaration: what it computes (inputs, outputs, the dispatch),
 * the float64 reference for its output, and the work it does. The harness always validates in
 * the same run before it times.
 */
export interface KernelCase {
  op: string;
  variant: string;
  /** Model and layer the shape comes from: `s16 mlp.fc1`. */
  shape: string;
  inputs: Record<string, Float32Array>;
  /** The output checked against the reference, and its element count. */
  output: { name: string; length: number };
  make: (b: Record<string, BufferSlice>) => Dispatch;
  reference: () => ArrayLike<number>;
  /** Relative L2 tolerance against the reference. */
  tol: number;
  /** What the variant needs from the device; without it the case is skipped (not failed). */
  needs?: VariantNeeds;
}

export interface KernelResult {
  op: string;
  variant: string;
  shape: string;
  ok: boolean;
  /** Relative L2 error against float64. */
  error: number;
  /** Median time of `runs` timed runs, milliseconds; NaN when validation failed or it was skipped. */
  ms: number;
  runs: number;
  method: 'timestamp-query' | 'wall-clock' | 'none';
  gflops: number;
  gbps: number;
  flops: number;
  bytes: number;
  note?: string;
  /** The adapter lacks a feature the variant needs. */
  skipped?: boolean;
}


export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface TimingOptions {
  /** Timed runs after validation (median reported). */
  runs: number;
  /** Untimed warm-up runs. */
  warmup: number;
  /** Stop timing after this many milliseconds of measured time (at least 3 runs). */
  budgetMs: number;
}

/** Validates `c` against its reference (output poisoned first), then times it. */
export async function runKernelCase(device: GPUDevice, c: KernelCase, t: TimingOptions): Promise<KernelResult> {
  const why = c.needs && unavailableReason(device, c.needs);
  if (why) {
    return { op: c.op, variant: c.variant, shape: c.shape, ok: true, skipped: true, error: NaN, ms: NaN, runs: 0, method: 'none', gflops: NaN, gbps: NaN, flops: 0, bytes: 0, note: `skipped: ${why}` };
  }
  let s: StandaloneDispatch;
  try {
    s = await StandaloneDispatch.create(device, c.make, { inputs: c.inputs, outputs: { [c.output.name]: c.output.length } }, { repeat: timingRepeats(device) });
  } catch (e) {
    // A variant this adapter cannot compile is a failed case with the compiler's words, not the end of the run.
    const note = `failed to build: ${(e as Error).message}`.replace(/\s+/g, ' ').slice(0, 2000);
    return { op: c.op, variant: c.variant, shape: c.shape, ok: false, error: NaN, ms: NaN, runs: 0, method: 'none', gflops: NaN, gbps: NaN, flops: 0, bytes: 0, note };
  }
  const base = { op: c.op, variant: c.variant, shape: c.shape, flops: s.dispatch.flops, bytes: s.dispatch.bytes };
  try {
    s.poison();
    await s.run();
    const got = await s.read(c.output.name);
    const error = relL2(got, c.reference());
    if (!(error <= c.tol)) {
      return { ...base, ok: false, error, ms: NaN, runs: 0, method: 'none', gflops: NaN, gbps: NaN, note: `validation failed: error ${error.toExponential(2)} > ${c.tol}` };
    }
    for (let i = 0; i < t.warmup; i++) await s.run();
    const times: number[] = [];
    let method: KernelResult['method'] = 'none';
    let spent = 0;
    while (times.length < t.runs && (times.length < 3 || spent < t.budgetMs)) {
      const r = await s.time();
      times.push(r.ms);
      method = r.method;
      spent += r.ms;
    }
    const ms = median(times);
    return { ...base, ok: true, error, ms, runs: times.length, method, gflops: s.dispatch.flops / (ms * 1e6), gbps: s.dispatch.bytes / (ms * 1e6) };
  } finally {
    s.destroy();
  }
}
