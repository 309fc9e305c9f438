import { BENCH_MODELS, type BenchModel } from './kernels.js';
import { median } from './harness.js';
import { parseConfig, shapeOf, type ViTConfig } from '../src/model/config.js';
import { declaredWeights, expectedTensors, type LoadedWeights } from '../src/model/weights.js';
import type { Precision } from '../src/kernels/definition.js';
import { dequantize, quantize } from '../src/kernels/matmul/quant.js';
import { floatToHalf, halfToFloat } from '../src/kernels/half.js';
import { ViTModel } from '../src/model/vit.js';
import { getNodeDevice } from '../src/runtime/node-device.js';
import type { DispatchTiming } from '../src/runtime/plan.js';

/** Random weights for a config (timing only: the values do not matter, the shapes do). */
export function randomWeights(c: ViTConfig, seed = 1): LoadedWeights {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensors(c)) {
    const n = shape.reduce((x, y) => x * y, 1);
    const scale = name.endsWith('norm1.weight') || name.endsWith('norm2.weight') || name === 'norm.weight' ? 0 : 0.04;
    tensors.set(name, Float32Array.from({ length: n }, () => (scale ? scale * rand() : 1)));
  }
  return { config: c, tensors };
}

export interface ModelBenchOptions {
  models: BenchModel[];
  batches: number[];
  runs: number;
  /** Skip the cold start (a fresh device, adapter defaults): saves a compile of every kernel. */
  noCold?: boolean;
  /** LoadOptions.precision of every model (default 'f32'). */
  precision?: Precision;
  /** Several precisions, each model at each, timed in turns (overrides `precision`). */
  precisions?: Precision[];
}

/**
 * The weights a model at `precision` multiplies by, widened to f32: matmul weights rounded to
 * halves (f16) or quantised and dequantised (int8, q4: code · scale, as quant.ts defines them;
 * the patch embedding's too). What its logits are validated against.
 */
export function heldWeights(w: LoadedWeights, precision: Precision): LoadedWeights {
  if (precision === 'f32') return w;
  const tensors = new Map(w.tensors);
  for (const [name, d] of declaredWeights(w.config)) {
    const f = w.tensors.get(name);
    if (!d.matrix || !f) continue;
    if (precision === 'f16') tensors.set(name, Float32Array.from(f, (x) => halfToFloat(floatToHalf(x))));
    else tensors.set(name, Float32Array.from(dequantize(quantize(f, d.shape[0], d.shape[1], precision, name))));
  }
  return { ...w, tensors };
}

/** Validation's bound: max |Δ logit| / max |logit|, as the f32 model against PyTorch's float64 (test/model/golden.test.ts). */
const VALIDATE_TOL = 1e-4;

/**
 * Validates `model` before it is timed: its batch-1 logits against an f32 model of the weights
 * it holds (heldWeights) running the naive matmul (the plain baseline variant), within
 * VALIDATE_TOL. Throws on a mismatch; returns the error.
 */
async function validateModel(device: GPUDevice, name: string, weights: LoadedWeights, precision: Precision, model: ViTModel, per: number): Promise<number> {
  const input = new Float32Array(per).map((_, i) => Math.sin(0.37 * i));
  const ref = await ViTModel.fromWeights(device, heldWeights(weights, precision), { label: `${name}.reference`, kernels: { matmul: 'naive' }, tune: false });
  try {
    const want = (await ref.forward(input)).logits;
    const got = (await model.forward(input)).logits;
    let d = 0;
    let m = 0;
    for (let i = 0; i < want.length; i++) {
      d = Math.max(d, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
      m = Math.max(m, Math.abs(want[i]));
    }
    const err = d / m;
    process.stderr.write(`  ${name} ${precision}: validated, max |Δ logit| / max |logit| = ${err.toExponential(2)} against f32 + naive matmul on the held weights\n`);
    if (!(err <= VALIDATE_TOL)) throw new Error(`bench model ${name} at ${precision}: logits differ from the reference by ${err} (> ${VALIDATE_TOL}); not timed`);
    return err;
  } finally {
    await ref.dispose();
  }
}

/** One kind of dispatch (`attn.qkv` for every block's qkv) in a profile: summed GPU time and rate. */
export interface ProfileGroup {
  /** The label without its block index: `blocks.attn.qkv`; kernels as `op/variant` (several if they differ). */
  what: string;
  kernels: string[];
  count: number;
  ms: number;
  /** Achieved TFLOP/s (flops over the summed time) and GB/s. */
  tflops: number;
  gbps: number;
}

/** Groups a profile's dispatches by label with block numbers removed (`blocks.3.mlp.fc1` → `blocks.mlp.fc1`). */
export function groupProfile(dispatches: readonly DispatchTiming[]): ProfileGroup[] {
  const groups = new Map<string, { kernels: Set<string>; count: number; ms: number; flops: number; bytes: number }>();
  for (const d of dispatches) {
    const what = d.label.replace(/\.\d+\./g, '.').replace(/^block\d+\./, 'block.');
    const g = groups.get(what) ?? { kernels: new Set<string>(), count: 0, ms: 0, flops: 0, bytes: 0 };
    g.kernels.add(d.kernel);
    g.count++;
    g.ms += d.ms;
    g.flops += d.flops;
    g.bytes += d.bytes;
    groups.set(what, g);
  }
  return [...groups].map(([what, g]) => ({ what, kernels: [...g.kernels], count: g.count, ms: g.ms, tflops: g.ms > 0 ? g.flops / (g.ms * 1e9) : 0, gbps: g.ms > 0 ? g.bytes / (g.ms * 1e6) : 0 }));
}

/** A profile as markdown: one row per dispatch kind, biggest first. */
export function profileTable(title: string, groups: readonly ProfileGroup[], totalMs: number): string {
  const rows = [...groups].sort((a, b) => b.ms - a.ms);
  return [
    `${title}: ${totalMs.toFixed(3)} ms GPU in all`,
    '',
    '| dispatch | kernel(s) | count | ms | share | TFLOP/s | GB/s |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map((g) => `| ${g.what} | ${g.kernels.join(', ')} | ${g.count} | ${g.ms.toFixed(3)} | ${((100 * g.ms) / totalMs).toFixed(1)}% | ${g.tflops.toFixed(2)} | ${g.gbps.toFixed(0)} |`),
  ].join('\n');
}

interface ModelRow {
  model: BenchModel;
  precision: Precision;
  coldStartMs: number;
  byBatch: { batch: number; medianMs: number; imagesPerSecond: number; runs: number }[];
  opShare: Record<string, number>;
  gpuMsBatch1: number;
  profileMethod: string;
  /** Bytes of the GPU buffers holding the weights (codes and scales for int8 / q4). */
  weightBytes: number;
  /** validateModel's error. */
  validationError: number;
  /** Per dispatch kind at batch 1 and at the largest batch. */
  profiles: { batch: number; totalMs: number; groups: ProfileGroup[] }[];
}

/** Load + first forward pass on a fresh device (no pipeline cached; adapter-default kernels). */
async function coldStart(name: string, weights: LoadedWeights, per: number, precision: Precision): Promise<number> {
  const fresh = await getNodeDevice();
  try {
    const t0 = performance.now();
    const m = await ViTModel.fromWeights(fresh, weights, { label: `${name}.cold`, precision });
    await m.forward(new Float32Array(per));
    const ms = performance.now() - t0;
    await m.dispose();
    return ms;
  } finally {
    fresh.destroy();
  }
}

/**
 * End-to-end: cold start (weights upload + pipeline creation + first pass, on a fresh device so no
 * pipeline is cached; adapter-default kernels, as a first use without tuning), latency at batch 1
 * and throughput at larger batches with tuned kernels (median wall time of forward(), input upload
 * and readback included), and each op's share of GPU time at batch 1.
 * With several precisions, each model is loaded at every one of them and validated, then the
 * timed forward passes take turns (f32, f16, …, f32, f16, …): a load on the machine that comes
 * and goes falls on all of them alike, so their ratios hold even where the absolute times move.
 */
export async function runModelBench(device: GPUDevice, o: ModelBenchOptions) {
  const rows: ModelRow[] = [];
  const precisions = o.precisions ?? [o.precision ?? 'f32'];
  for (const name of o.models) {
    const config = parseConfig(BENCH_MODELS[name], name);
    const weights = randomWeights(config);
    const per = shapeOf(config).imageValues;
    const models: ViTModel[] = [];
    try {
      const loaded: { precision: Precision; model: ViTModel; coldStartMs: number; validationError: number; byBatch: ModelRow['byBatch'] }[] = [];
      for (const precision of precisions) {
        // Cold start on a device of its own.
        const coldStartMs = o.noCold ? NaN : await coldStart(name, weights, per, precision);
        // Latency and throughput with tuned kernels (tuned once per adapter and shape, then cached): the
        // engine at its best. The cold start above is a new user's: adapter defaults, no tuning.
        const model = await ViTModel.fromWeights(device, weights, { label: `${name}.${precision}`, batch: o.batches[0], tune: true, precision });
        models.push(model);
        const validationError = await validateModel(device, name, weights, precision, model, per);
        loaded.push({ precision, model, coldStartMs, validationError, byBatch: [] });
      }
      for (const batch of o.batches) {
        const input = new Float32Array(batch * per).map((_, i) => Math.sin(i));
        const runs = batch === 1 ? o.runs : Math.max(2, Math.ceil(o.runs / 2));
        const times = loaded.map(() => [] as number[]);
        for (const l of loaded) {
          await l.model.forward(input, { batch }); // warm-up (plan built)
          process.stderr.write(`  ${name} ${l.precision} batch ${batch} kernels: ${JSON.stringify(l.model.kernels(batch))}\n`);
        }
        for (let i = 0; i < runs; i++) {
          for (const [j, l] of loaded.entries()) {
            const t = performance.now();
            await l.model.forward(input, { batch });
            times[j].push(performance.now() - t);
          }
        }
        for (const [j, l] of loaded.entries()) {
          const ms = median(times[j]);
          l.byBatch.push({ batch, medianMs: ms, imagesPerSecond: (1000 * batch) / ms, runs });
          process.stderr.write(`  ${name} ${l.precision} batch ${batch}: ${ms.toFixed(1)} ms (${((1000 * batch) / ms).toFixed(2)} images/s)\n`);
        }
      }
      for (const l of loaded) {
        const prof = await l.model.profile(new Float32Array(per));
        const opShare: Record<string, number> = {};
        for (const d of prof.dispatches) {
          const op = d.kernel.split('/')[0];
          opShare[op] = (opShare[op] ?? 0) + d.ms / prof.totalMs;
        }
        const profiles = [{ batch: 1, totalMs: prof.totalMs, groups: groupProfile(prof.dispatches) }];
        const big = Math.max(...o.batches);
        if (big > 1) {
          const p = await l.model.profile(new Float32Array(big * per).map((_, i) => Math.sin(i)), { batch: big });
          profiles.push({ batch: big, totalMs: p.totalMs, groups: groupProfile(p.dispatches) });
        }
        for (const p of profiles) process.stderr.write(`\n${profileTable(`${name} ${l.precision} batch ${p.batch}`, p.groups, p.totalMs)}\n\n`);
        rows.push({ model: name, precision: l.precision, coldStartMs: l.coldStartMs, byBatch: l.byBatch, opShare, gpuMsBatch1: prof.totalMs, profileMethod: prof.method, profiles, weightBytes: l.model.weightBytes, validationError: l.validationError });
      }
    } finally {
      for (const m of models) await m.dispose();
    }
  }
  const batches = o.batches;
  const ops = [...new Set(rows.flatMap((r) => Object.keys(r.opShare)))];
  const md = [
    `| model | precision | weights MB (GPU) | validated | cold start ms | ${batches.map((b) => (b === 1 ? 'batch 1 latency ms' : `batch ${b} images/s`)).join(' | ')} | GPU ms (batch 1) | ${ops.map((op) => `${op} share`).join(' | ')} |`,
    `|---|---|---:|---:|---:|${batches.map(() => '---:').join('|')}|---:|${ops.map(() => '---:').join('|')}|`,
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.precision} | ${(r.weightBytes / 1e6).toFixed(2)} | ${r.validationError.toExponential(1)} | ${Number.isNaN(r.coldStartMs) ? '—' : r.coldStartMs.toFixed(0)} | ${r.byBatch.map((b) => (b.batch === 1 ? b.medianMs.toFixed(2) : b.imagesPerSecond.toFixed(2))).join(' | ')} | ${r.gpuMsBatch1.toFixed(2)} | ${ops.map((op) => `${(100 * (r.opShare[op] ?? 0)).toFixed(1)}%`).join(' | ')} |`,
    ),
  ].join('\n');
  return { text: md, markdown: md, json: { runs: o.runs, precisions, rows } };
}
