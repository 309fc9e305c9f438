import type { DispatchContext, OpDefinition, TuningSpec, VariantInfo } from '../kernels/definition.js';
import { variantTol } from '../kernels/kernel.js';
import { relL2 } from '../kernels/reference_math.js';
import { rng } from '../kernels/sample.js';
import { StandaloneDispatch, timingRepeats } from './standalone.js';

// The tuner's timing of candidates (src/runtime/tuning.ts decides what to time and caches the
// choice). A module of its own, imported when something is to be timed: the browser bundle loads
// it only for a page that tunes.

/** Times one run of a candidate: GPU timestamps (or wall time without them). TuneOptions.time replaces it in tests. */
export type Timer = (op: string, variant: string, measure: () => Promise<number>) => Promise<number>;

/** The most rows (tokens × images) a tuning run times; larger problems are timed on this many. */
const TUNE_MAX_ROWS = 1024;

/** Seed of the tuner's inputs (drawn by each op definition's `sample`, as in the tests). */
const TUNE_SEED = 1;

/**
 * Times each candidate on the problem and returns the fastest one whose output matches the
 * default variant's (relative L2 within the op's tolerance; the default is validated against
 * float64 by the tests). A candidate that fails to compile, or disagrees, is never chosen. Two
 * rounds keep first-use tuning short: candidates are validated and timed once (whole families
 * skipped when their first member is 2× behind), then only those within 1.5× of the best first
 * time are timed twice more and ranked by their median of three.
 */
export async function pickFastest(
  device: GPUDevice, def: OpDefinition, tuning: TuningSpec<object, string>, candidates: string[], problem: object, time: Timer,
): Promise<{ choice: string; times: Record<string, number>; rejected: string[] }> {
  const dflt = def.defaultVariant;
  const shape = tuning.timed(problem, TUNE_MAX_ROWS);
  const inputs = def.sample(shape, rng(TUNE_SEED));
  const ctx: DispatchContext = { label: `tune.${def.name}`, maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize };
  const runs = new Map<string, number[]>();
  const rejected: string[] = [];
  let reference: Float32Array | undefined;
  const measure = async (v: string, count: number, validate: boolean): Promise<void> => {
    let s: StandaloneDispatch | undefined;
    try {
      s = await StandaloneDispatch.create(device, (b) => def.dispatch(shape, v, b, ctx), { inputs, outputs: { out: def.outputLength(shape) } }, { repeat: timingRepeats(device) });
      if (validate) {
        s.poison();
        await s.run();
        const out = await s.read('out');
        if (v === dflt) reference = out;
        // An f16 variant is held to F16_TOL: the default is float32, validated against float64.
        else if (!reference || !(relL2(out, reference) <= variantTol(def.tol, (def.variants as Record<string, VariantInfo>)[v]))) {
          rejected.push(v);
          return;
        }
      }
      const ms = runs.get(v) ?? [];
      for (let i = 0; i < count; i++) ms.push(await time(def.name, v, async () => (await s!.time()).ms));
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
  let best: { v: string; ms: number } = { v: dflt, ms: Infinity };
  for (const [v, r] of runs) {
    const sorted = [...r].sort((x, y) => x - y);
    const ms = sorted[Math.floor(sorted.length / 2)];
    times[v] = ms;
    // Only candidates timed three times compete (a single fast run may be noise).
    if (r.length >= 3 && ms < best.ms) best = { v, ms };
  }
  return { choice: best.v, times, rejected };
}

