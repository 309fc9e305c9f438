import { checkForcedKernels, opDefinition, OPS, type GraphKernels, type KernelChoice } from '../kernels/registry.js';
import { variantNames, type OpDefinition, type Precision, type TuningSpec, type VariantInfo } from '../kernels/definition.js';
import { unavailableReason } from '../kernels/kernel.js';
import { adapterIdentity } from './device.js';
import { checkDeviceFacts, chunk, WebvitError } from './errors.js';
import type { Timer } from './tune_timing.js';
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

/** A graph node as the tuner reads it: its op and problem (`Dispatch.op`, set by the op's builder). */
export interface TuneNode {
  name: string;
  shape: object;
}

export interface TuneResult {
  /** The variant each node of the graph runs (for buildGraph's `kernels`). */
  kernels: GraphKernels;
  /** What was chosen, for people: `matmul 197x384x1536` -> `register_4x4`. */
  chosen: Record<string, string>;
  /** Candidates whose output disagreed with the default variant's, per problem tuned now: never chosen. */
  rejected: Record<string, string[]>;
}

/**
 * Candidates for a problem: every variant the device can run and that applies to the problem,
 * but the plain baselines (matmul/naive), which exist to be compared against.
 */
function candidates(device: GPUDevice, def: OpDefinition, problem: object, precision: Precision): string[] {
  const table = def.variants as Record<string, VariantInfo>;
  return variantNames(def).filter(
    (v) => !table[v].baseline && (table[v].precision !== 'f16' || precision === 'f16') && unavailableReason(device, table[v]) === undefined && table[v].inapplicable?.(problem) === undefined,
  );
}

/**
 * Bump when a kernel's code changes in a way that can change which variant is fastest: cached
 * choices made under another version are tuned again.
 */
const TUNING_VERSION = 2;

/** Short hash of the candidate set (and TUNING_VERSION): a new or removed variant retunes. */
function fingerprint(names: string[]): string {
  let h = 0x811c9dc5;
  for (const ch of `${TUNING_VERSION}:${names.join(',')}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(36);
}


const measured: Timer = (_op, _variant, measure) => measure();

/** `f()`, or undefined when it throws. */
function quietly<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** How tuneKernels decides what it does not find in the store. */
export interface TuneOptions {
  /**
   * Time the candidates of every (op, shape) that has no cached choice, and cache the winner
   * (default). With false, such shapes get the adapter's defaults (each op's `tuning.preferred`)
   * and nothing is timed: cached choices from an earlier tune are still used.
   */
  tune?: boolean;
  /** Called before each (op, shape) is tuned and when all are done (stage 'tune'). */
  onProgress?: ProgressCallback;
  /**
   * Test seam: the time of one run of `op/variant`; `measure()` times it for real. Tests use it
   * to make a chosen variant look fastest (and so prove the validation gate and the ranking).
   */
  time?: Timer;
  /** The model's precision: f16 variants (VariantNeeds.precision) are candidates only for 'f16'. */
  precision?: Precision;
}

/** One (op, problem) to choose a variant for. */
interface Problem {
  def: OpDefinition;
  tuning: TuningSpec<object, string>;
  problem: object;
  /** For people, progress and `chosen`: `matmul 197x384x1536`. */
  what: string;
}

/**
 * Chooses kernel variants for a graph on this adapter, for every tunable op the registry lists
 * and every problem the graph's nodes pose (`nodes`: the `op` of each dispatch): forced choices
 * win; otherwise a cached result for (adapter, op, problem) from `store`; otherwise, with `tune`,
 * a short validated tune whose result is cached, or without it the adapter's defaults. An op
 * tuned per shape (matmul) is chosen per distinct problem (a classifier at batch 1 wants a
 * different kernel than fc1). The cache key carries a fingerprint of the candidate set, so adding
 * or removing a variant tunes again.
 */
export async function tuneKernels(device: GPUDevice, nodes: readonly TuneNode[], store: TuneStore | undefined, forced: KernelChoice = {}, options: TuneOptions = {}): Promise<TuneResult> {
  checkDeviceFacts(device, 'tuneKernels');
  const wrong = (what: string) => {
    throw new WebvitError('BAD_ARGUMENT', `tuneKernels: ${what}`);
  };
  if (!Array.isArray(nodes) || !nodes.every((n) => typeof n == 'object' && n !== null && typeof n.name == 'string' && typeof n.shape == 'object' && n.shape !== null)) {
    wrong('nodes must be an array of { name, shape } , one per op of the graph');
  }
  if (store !== undefined && (typeof store != 'object' || store === null || typeof store.get != 'function' || typeof store.set != 'function')) wrong('store must be a TuneStore ({ get, set }) or undefined');
  if (typeof forced != 'object' || forced === null) wrong('forced must be an object of op: variant ({} for none)');
  if (typeof options != 'object' || options === null) wrong('options must be an object');
  const forcedBy = forced as Record<string, string | undefined>;
  const precision = options.precision ?? 'f32';
  checkForcedKernels(device, forcedBy, nodes, 'tuneKernels', precision);
  const adapter = adapterIdentity(device).id;
  // Distinct problems, per op in registry order, each in graph order.
  const problems = new Map<string, Problem>();
  /** An op tuned once per graph: the `what` of its first node. */
  const perGraph = new Map<string, string>();
  for (const def of OPS as readonly OpDefinition[]) {
    const tuning = def.tuning as TuningSpec<object, string> | undefined;
    if (!tuning) continue;
    for (const node of nodes) {
      if (node.name !== def.name || perGraph.has(def.name)) continue;
      const problem = tuning.problem(node.shape);
      const what = `${def.name} ${tuning.key(problem)}`;
      if (!problems.has(what)) problems.set(what, { def, tuning, problem, what });
      if (tuning.per === 'graph') perGraph.set(def.name, what);
    }
  }

  const chosen: Record<string, string> = {};
  const rejected: Record<string, string[]> = {};
  const toTune: (Problem & { key: string; usable: string[] })[] = [];
  for (const p of problems.values()) {
    const force = forcedBy[p.def.name];
    if (force) {
      chosen[p.what] = force;
      continue;
    }
    const usable = candidates(device, p.def, p.problem, precision);
    const key = `${adapter}|${p.def.name}|${p.tuning.key(p.problem)}|${fingerprint(usable)}`;
    // A cached value that names no usable variant is stale: ignored.
    const cached = quietly(() => store?.get(key)); // a store of the app's that throws is no store
    if (cached && usable.includes(cached)) chosen[p.what] = cached;
    else if (store && options.tune !== false) toTune.push({ ...p, key, usable });
    else chosen[p.what] = p.tuning.preferred(device, p.problem, precision);
  }
  const report = options.onProgress;
  for (const [i, p] of toTune.entries()) {
    report?.({ stage: 'tune', done: i, total: toTune.length, detail: i > 0 ? toTune[i - 1].what : undefined });
    // The timing harness is imported here: a page that never tunes does not load it (src/on_demand.ts).
    const { pickFastest } = await chunk(import('../on_demand.js'));
    const r = await pickFastest(device, p.def, p.tuning, p.usable, p.problem, options.time ?? measured);
    quietly(() => store!.set(p.key, r.choice));
    chosen[p.what] = r.choice;
    if (r.rejected.length) rejected[p.what] = r.rejected;
  }
  if (toTune.length) report?.({ stage: 'tune', done: toTune.length, total: toTune.length, detail: toTune[toTune.length - 1].what });

  // In problem order (per op in registry order, then as the graph has them), for people.
  const ordered: Record<string, string> = {};
  for (const what of problems.keys()) ordered[what] = chosen[what];
  const kernels: GraphKernels = (node) => {
    const def = opDefinition(node.name);
    const t = def?.tuning as TuningSpec<object, string> | undefined;
    const what = !def || !t ? undefined : t.per === 'graph' ? perGraph.get(def.name) : `${def.name} ${t.key(t.problem(node.shape))}`;
    return (what === undefined ? undefined : chosen[what]) ?? forcedBy[node.name];
  };
  return { kernels, chosen: ordered, rejected };
}
