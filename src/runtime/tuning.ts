import { attention, attentionInapplicable, type AttentionVariant } from '../kernels/attention/op.js';
import { linear, type MatmulVariant } from '../kernels/matmul/op.js';
import { layerNorm, type LayerNormVariant } from '../kernels/layernorm/op.js';
import { adapterDefaults, DEFAULT_CHOICE, KERNEL_VARIANTS, variantNeeds, type GraphKernels, type KernelChoice } from '../kernels/registry.js';
import { unavailableReason, type Dispatch } from '../kernels/kernel.js';
import type { BufferSlice } from './shader.js';
import { adapterIdentity } from './device.js';
import { relL2 } from '../kernels/reference_math.js';
import { StandaloneDispatch } from './standalone.js';
import type { ProgressCallback } from './progress.js';

/** Where tuning results live: localStorage in browsers, a JSON file in Node, memory otherwise. */
export interface TuneStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export function memoryTuneStore(): TuneStore {
  const m = new Map<string, string>();
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v) };
}

export function localStorageTuneStore(): TuneStore | undefined {
  try {
    const ls = (globalThis as { localStorage?: Storage }).localStorage;
    if (!ls) return undefined;
    return { get: (k) => ls.getItem(`webvit.tune.${k}`) ?? undefined, set: (k, v) => ls.setItem(`webvit.tune.${k}`, v) };
  } catch {
    return undefined;
  }
}

export interface TuneShapes {
  /** Every distinct matmul problem of the graph (M, K, N). */
  matmuls: { M: number; K: number; N: number }[];
  attention: { batch: number; T: number; heads: number; headDim: number };
  layernorm: { rows: number; D: number };
}

export interface TuneResult {
  kernels: GraphKernels;
  /** What was chosen, for people: `matmul 197x384x1536` -> `register_4x4`. */
  chosen: Record<string, string>;
}

/**
 * Candidates: every variant the device can run, but the plain reference ones, which exist to be
 * compared against.
 */
function candidates<Op extends 'matmul' | 'attention' | 'layernorm'>(device: GPUDevice, op: Op): (keyof (typeof KERNEL_VARIANTS)[Op] & string)[] {
  return (Object.keys(KERNEL_VARIANTS[op]) as (keyof (typeof KERNEL_VARIANTS)[Op] & string)[]).filter(
    (v) => v !== 'naive' && unavailableReason(device, variantNeeds(op, v)) === undefined,
  );
}

/**
 * Bump when a kernel's code changes in a way that can change which variant is fastest: cached
 * choices made under another version are tuned again.
 */
const TUNING_VERSION = 2;

/** The most rows (tokens × images) a tuning run times; larger problems are timed on this many. */
const TUNE_MAX_ROWS = 1024;

/** Short hash of the candidate set (and TUNING_VERSION): a new or removed variant retunes. */
function fingerprint(names: string[]): string {
  let h = 0x811c9dc5;
  for (const ch of `${TUNING_VERSION}:${names.join(',')}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(36);
}

function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}


/**
 * Times each candidate on the real shape and returns the fastest one whose output matches the
 * default variant's (relative L2 ≤ 1e-5; the default is validated against float64 by the tests).
 * A candidate that fails to compile, or disagrees, is never chosen. Two rounds keep first-use
 * tuning short: candidates are validated and timed once (whole families skipped when their first
 * member is 2× behind), then only those within 1.5× of the best first time are timed twice more
 * and ranked by their median of three.
 */
async function pickFastest<V extends string>(
  device: GPUDevice, candidates: V[], dflt: V, inputs: Record<string, Float32Array>, outLen: number,
  make: (v: V, b: Record<string, BufferSlice>) => Dispatch,
): Promise<{ choice: V; times: Record<string, number> }> {
  const runs = new Map<V, number[]>();
  let reference: Float32Array | undefined;
  const measure = async (v: V, count: number, validate: boolean): Promise<void> => {
    let s: StandaloneDispatch | undefined;
    try {
      s = await StandaloneDispatch.create(device, (b) => make(v, b), { inputs, outputs: { out: outLen } });
      if (validate) {
        s.poison();
        await s.run();
        const out = await s.read('out');
        if (v === dflt) reference = out;
        else if (!reference || !(relL2(out, reference) <= 1e-5)) return;
      }
      const ms = runs.get(v) ?? [];
      for (let i = 0; i < count; i++) ms.push((await s.time()).ms);
      runs.set(v, ms);
    } catch {
      // A variant this adapter cannot compile or run is simply not a candidate.
    } finally {
      s?.destroy();
    }
  };
  // Round 1, by family (the name before the first '_': tiled_32x64 is a 'tiled'): the default and
  // the first member of every other family, then the other members only of families whose first
  // member came within 2× of the best. Each candidate costs a shader compile (seconds on CPU
  // drivers), and a family that lost by 2× rarely has a member that wins.
  const family = (v: string) => v.split('_')[0];
  const order = [dflt, ...candidates.filter((c) => c !== dflt)];
  const leaders = order.filter((v, i) => order.findIndex((w) => family(w) === family(v)) === i);
  for (const v of leaders) await measure(v, 1, true);
  const bestOf = () => Math.min(...[...runs.values()].map((r) => r[0]));
  for (const v of order) {
    if (leaders.includes(v)) continue;
    const leader = leaders.find((w) => family(w) === family(v))!;
    const lt = runs.get(leader)?.[0];
    if (lt !== undefined && lt <= 2 * bestOf()) await measure(v, 1, true);
  }
  const first = bestOf();
  for (const [v, r] of runs) if (r[0] <= 1.5 * first) await measure(v, 2, false);
  const times: Record<string, number> = {};
  let best: { v: V; ms: number } = { v: dflt, ms: Infinity };
  for (const [v, r] of runs) {
    const sorted = [...r].sort((x, y) => x - y);
    const ms = sorted[Math.floor(sorted.length / 2)];
    times[v] = ms;
    // Only candidates timed three times compete (a single fast run may be noise).
    if (r.length >= 3 && ms < best.ms) best = { v, ms };
  }
  return { choice: best.v, times };
}

/** How tuneKernels decides what it does not find in the store. */
export interface TuneOptions {
  /**
   * Time the candidates of every (op, shape) that has no cached choice, and cache the winner
   * (default). With false, such shapes get the adapter's defaults (adapterDefaults) and nothing is
   * timed: cached choices from an earlier tune are still used.
   */
  tune?: boolean;
  /** Called before each (op, shape) is tuned and when all are done (stage 'tune'). */
  onProgress?: ProgressCallback;
}

/** One (op, shape) to choose a variant for. */
interface Job {
  /** For people and progress: `matmul 197x384x1536`. */
  what: string;
  /** Cache key without the candidate fingerprint. */
  key: string;
  usable: string[];
  fallback: string;
  pick: (usable: string[]) => Promise<{ choice: string }>;
}

/**
 * Chooses kernel variants for this adapter: forced choices win; otherwise a cached result for
 * (adapter, op, shape) from `store`; otherwise, with `tune` (the default), a short validated tune
 * whose result is cached, or without it the adapter's defaults. Each distinct matmul shape is
 * chosen on its own (a classifier at batch 1 wants a different kernel than fc1). The cache key
 * carries a fingerprint of the candidate set, so adding or removing a variant tunes again.
 */
export async function tuneKernels(device: GPUDevice, shapes: TuneShapes, store: TuneStore | undefined, forced: KernelChoice = {}, options: TuneOptions = {}): Promise<TuneResult> {
  const adapter = adapterIdentity(device).id;
  const defaults = adapterDefaults(device);
  const jobs: Job[] = [];
  const chosen: Record<string, string> = {};

  const shapeKeys: string[] = [];
  for (const { M, K, N } of shapes.matmuls) {
    const shape = `${M}x${K}x${N}`;
    if (shapeKeys.includes(shape)) continue;
    shapeKeys.push(shape);
    if (forced.matmul) {
      chosen[`matmul ${shape}`] = forced.matmul;
      continue;
    }
    jobs.push({
      what: `matmul ${shape}`,
      key: `${adapter}|matmul|${shape}`,
      usable: candidates(device, 'matmul'),
      fallback: defaults.matmul(M, K, N),
      pick: (usable) => {
        // Timed on at most TUNE_MAX_ROWS rows: a matmul's time grows linearly with M beyond a few
        // hundred rows, and tuning at batch 32 on all 6304 rows would take minutes on slow adapters.
        const m = Math.min(M, TUNE_MAX_ROWS);
        const inputs = { a: pseudoRandom(m * K, 1), w: pseudoRandom(K * N, 2), bias: pseudoRandom(N, 3) };
        return pickFastest(device, usable as MatmulVariant[], DEFAULT_CHOICE.matmul, inputs, m * N, (variant, b) =>
          linear({ label: 'tune.matmul', M: m, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue: 'none', variant }));
      },
    });
  }
  const a = shapes.attention;
  const attnWhat = `attention ${a.batch}x${a.T}x${a.heads}x${a.headDim}`;
  if (forced.attention) chosen[attnWhat] = forced.attention;
  else {
    jobs.push({
      what: attnWhat,
      key: `${adapter}|attention|${a.batch}x${a.T}x${a.heads}x${a.headDim}`,
      usable: candidates(device, 'attention').filter((v) => attentionInapplicable(v, a.headDim) === undefined),
      fallback: defaults.attention(a.headDim),
      pick: (usable) => {
        const D = a.heads * a.headDim;
        // Images are independent: time at most enough of them for TUNE_MAX_ROWS tokens.
        const batch = Math.max(1, Math.min(a.batch, Math.floor(TUNE_MAX_ROWS / a.T)));
        const inputs = { qkv: pseudoRandom(batch * a.T * 3 * D, 4) };
        return pickFastest(device, usable as AttentionVariant[], DEFAULT_CHOICE.attention, inputs, batch * a.T * D, (variant, b) =>
          attention({ label: 'tune.attention', ...a, batch, qkv: b.qkv, out: b.out, maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize, variant }));
      },
    });
  }
  const l = shapes.layernorm;
  const lnWhat = `layernorm ${l.rows}x${l.D}`;
  if (forced.layernorm) chosen[lnWhat] = forced.layernorm;
  else {
    jobs.push({
      what: lnWhat,
      key: `${adapter}|layernorm|${l.rows}x${l.D}`,
      usable: candidates(device, 'layernorm'),
      fallback: defaults.layernorm,
      pick: (usable) => {
        const rows = Math.min(l.rows, TUNE_MAX_ROWS);
        const inputs = { x: pseudoRandom(rows * l.D, 5), gamma: pseudoRandom(l.D, 6), beta: pseudoRandom(l.D, 7) };
        return pickFastest(device, usable as LayerNormVariant[], DEFAULT_CHOICE.layernorm, inputs, rows * l.D, (variant, b) =>
          layerNorm({ label: 'tune.layernorm', rows, D: l.D, eps: 1e-6, x: b.x, gamma: b.gamma, beta: b.beta, out: b.out, variant }));
      },
    });
  }

  // Cached choices first (a cached value that names no usable variant is stale: ignored), so that
  // the progress total counts only what will really be timed.
  const toTune: Job[] = [];
  for (const job of jobs) {
    const cached = store?.get(`${job.key}|${fingerprint(job.usable)}`);
    if (cached && job.usable.includes(cached)) chosen[job.what] = cached;
    else if (store && options.tune !== false) toTune.push(job);
    else chosen[job.what] = job.fallback;
  }
  const report = options.onProgress;
  for (const [i, job] of toTune.entries()) {
    report?.({ stage: 'tune', done: i, total: toTune.length, detail: i > 0 ? toTune[i - 1].what : undefined });
    const { choice } = await job.pick(job.usable);
    store!.set(`${job.key}|${fingerprint(job.usable)}`, choice);
    chosen[job.what] = choice;
  }
  if (toTune.length) report?.({ stage: 'tune', done: toTune.length, total: toTune.length, detail: toTune[toTune.length - 1].what });

  // In problem order (matmuls as the graph has them, then attention, then layernorm), for people.
  const ordered: Record<string, string> = {};
  for (const what of [...shapeKeys.map((k) => `matmul ${k}`), attnWhat, lnWhat]) ordered[what] = chosen[what];
  const fallbackMatmul = forced.matmul ?? DEFAULT_CHOICE.matmul;
  const kernels: GraphKernels = {
    matmul: (M, K, N) => (chosen[`matmul ${M}x${K}x${N}`] as MatmulVariant | undefined) ?? fallbackMatmul,
    attention: chosen[attnWhat] as AttentionVariant,
    layernorm: chosen[lnWhat] as LayerNormVariant,
  };
  return { kernels, chosen: ordered };
}
