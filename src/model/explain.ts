import type { Binding, Dispatch, TensorRef } from '../kernels/kernel.js';
import { probeSoftmaxRef } from '../kernels/attention_pool/reference.js';
import { attentionExplain, ATTENTION_EXPLAIN_VARIANTS, type AttentionExplainVariant } from '../kernels/attention_explain/op.js';
import { attentionProbs } from '../kernels/attention_probs/op.js';
import type { AttentionShape } from '../kernels/attention/op.js';
import { applyKernels, checkForcedKernels, registerOps, type GraphKernels } from '../kernels/registry.js';
import { EXPLAIN_OPS } from '../kernels/explain_ops.js';
import { WebvitError } from '../runtime/errors.js';
import type { WeightStorage } from '../kernels/matmul/weight_read.js';
import { Plan } from '../runtime/plan.js';
import type { ProgressCallback } from '../runtime/progress.js';
import { shapeOf, type ViTConfig } from './config.js';
import { explainLimits, rolloutRow, type AttentionExplanation, type ExplainOptions } from './explain_budget.js';
import { buildGraph } from './graph.js';

/**
 * Explain mode: what the model attends to (issue "What the model sees"; definitions in
 * docs/explain.md). One GPU pass per batch gives, per layer, the head-averaged attention matrix Ā
 * and each head's mean attention distance; attention rollout is then a few vector-matrix products
 * on the CPU.
 *
 * How it is computed
 * - A separate *explain plan*, compiled on first use and cached beside (never instead of) the
 *   model's forward plans: the default graph (buildGraph) with each block's `attention` dispatch
 *   replaced by `attention_explain` (same output, plus distances) and followed by
 *   `attention_probs`. Every other dispatch is the forward plan's own (same variants, WGSL,
 *   buffers); the forward pass is not touched at all (test/model/explain.test.ts checks both).
 * - Mean attention distance: accumulated inside the fused attention kernel beside the online
 *   softmax (src/kernels/attention_explain/: online_softmax_distance.ts, subgroup_distance.ts,
 *   the twins of the attention/* variants of those names; the plan takes the twin of the
 *   variant the forward plan runs): per query a running Σ e^(s−m)·‖c_q − c_k‖ over the patch
 *   keys, rescaled whenever the running max m moves exactly like the value accumulator and the
 *   running sum, and divided by the softmax denominator at the end; no attention matrix is
 *   written for it. The kernel writes one distance per (image, head, patch query), [B, H, N]; the
 *   mean over the N patch queries is taken here on the CPU in float64 (B·H·N values per layer:
 *   microseconds; a GPU reduction would need a pass of its own or float atomics WGSL lacks).
 * - Ā[l] [B, T, T]: attention_probs/query_tiles (softmax probabilities averaged over heads; the
 *   scores are computed again there, as a max/sum sweep and a write sweep over the keys).
 * - Rollout, R_l = norm_rows(0.5·Ā[l] + 0.5·I), Rollout = R_{L−1}·…·R_0, on the CPU in float64:
 *   only one row of the product is wanted (row 0 for class-token models, the mean of the patch
 *   rows for mean-pooled ones), so it is a row vector pushed through the layers from the last to
 *   the first, L vector-matrix products of T² each (ViT-B/16: 12 × 197² ≈ 0.5 M multiply-adds per
 *   image, well under a millisecond), instead of L − 1 full T³ matrix products on the GPU.
 */

/** What the explain plan needs from its ViTModel (which keeps these private). */
export interface ExplainHost {
  device: GPUDevice;
  config: ViTConfig;
  label: string;
  weight(name: string): Binding;
  storage: ReadonlyMap<string, WeightStorage>;
  /** The variants the forward plan at this batch runs (forced, cached, tuned or default). */
  kernels(batch: number): Promise<GraphKernels>;
  /** Variants forced at load (LoadOptions.kernels): the explain ops' are checked here, once registered. */
  forced: Record<string, string | undefined>;
  /** map pooling (SigLIP): the attention-pooling head's query [D], as the weight file holds it. */
  probeQuery?: Float32Array;
  onProgress?: ProgressCallback;
}

/** Tensor names of layer l's explain outputs. */
const distanceTensor = (l: number) => `blocks.${l}.attn.distance`;
const probsTensor = (l: number) => `blocks.${l}.attn.probs`;

/**
 * The explain plan's dispatches: `dispatches` (the forward graph) with each attention dispatch
 * replaced by attention_explain (same label, qkv and out bindings; plus a distance tensor
 * [B, H, N]) followed by attention_probs (Ā [B, T, T]). Returns the new list and the output tensors.
 */
export function explainDispatches(c: ViTConfig, batch: number, dispatches: readonly Dispatch[], maxWorkgroupStorage: number, maxWorkgroupsPerDimension?: number): { dispatches: Dispatch[]; outputs: string[] } {
  const s = shapeOf(c);
  const N = s.grid * s.grid;
  const out: Dispatch[] = [];
  const outputs: string[] = [];
  let l = 0;
  for (const d of dispatches) {
    if (d.op?.name !== 'attention') {
      out.push(d);
      continue;
    }
    const shape = d.op.shape as AttentionShape;
    const { T, heads, headDim } = shape;
    const qkv = d.bindings.qkv;
    const dist: TensorRef = { tensor: distanceTensor(l), bytes: 4 * batch * heads * N };
    const probs: TensorRef = { tensor: probsTensor(l), bytes: 4 * batch * T * T };
    // The explain variant of the attention variant the forward plan runs here (subgroup_bcast on
    // CPU adapters, say); attention_explain/online_softmax where it has none.
    const variant: AttentionExplainVariant = Object.hasOwn(ATTENTION_EXPLAIN_VARIANTS, d.op.variant) ? (d.op.variant as AttentionExplainVariant) : 'online_softmax';
    const bias = d.bindings.bias; // a score bias, as the forward pass adds it (FamilyModel.attentionBias)
    out.push(attentionExplain({ label: d.label, batch, T, heads, headDim, prefix: s.prefixTokens, grid: s.grid, patchSize: c.patch_size, qkv, out: d.bindings.out, dist, bias, maxWorkgroupStorage, variant }));
    out.push(attentionProbs({ label: `${d.label}.probs`, batch, T, heads, headDim, qkv, out: probs, bias, maxWorkgroupStorage, maxWorkgroupsPerDimension }));
    outputs.push(dist.tensor, probs.tensor);
    l++;
  }
  if (l !== c.num_layers) throw new WebvitError('BAD_ARGUMENT', `explain: the graph has ${l} attention dispatches, the config ${c.num_layers} layers`);
  return { dispatches: out, outputs };
}

/**
 * The explain plan of one model: one plan at a time (the last batch size asked for), compiled on
 * first use, separate from the forward plans so that explaining never evicts or changes them.
 */
export class Explainer {
  private plan: { batch: number; plan: Promise<{ plan: Plan; logits?: string }> } | undefined;
  private disposed = false;

  constructor(private readonly host: ExplainHost) {}

  /** Runs the explain pass on checked, finite pixels [batch, C, S, S]. */
  async run(pixels: Float32Array, batch: number, options: ExplainOptions): Promise<AttentionExplanation> {
    const c = this.host.config;
    const L = c.num_layers;
    const layer = options.layer;
    if (layer !== undefined && !(Number.isInteger(layer) && layer >= 0 && layer < L)) {
      throw new WebvitError('BAD_INPUT', `${this.host.label}: explain layer must be a whole number from 0 to ${L - 1} (the model has ${L} layers), got ${layer}`);
    }
    explainLimits(c, batch, this.host.device.limits, this.host.label);
    const { plan, logits } = await this.planFor(batch);
    const out = await plan.run({ image: pixels });
    // An attention-pooling head (SigLIP): the rollout starts from its probe's attention, computed
    // here from the keys the plan read back and the probe's query (kept on the CPU at load).
    let probe: Float32Array[] | undefined;
    const query = this.host.probeQuery;
    if (c.pooling === 'map' && query) probe = Array.from({ length: batch }, (_, b) => probeAttention(query, out['pool.kv.out'], b, shapeOf(c).tokens, c.num_heads));
    return explanation(c, batch, out, logits, layer, this.host.label, probe);
  }

  private planFor(batch: number): Promise<{ plan: Plan; logits?: string }> {
    if (this.disposed) throw new WebvitError('DISPOSED', `${this.host.label}: explain() after dispose()`);
    if (this.plan?.batch === batch) return this.plan.plan;
    const old = this.plan;
    const h = this.host;
    // The explain ops' definitions came with this module: variants forced for them are checked now.
    registerOps(EXPLAIN_OPS);
    const forced = Object.fromEntries(Object.entries(h.forced).filter(([op]) => EXPLAIN_OPS.some((d) => d.name === op)));
    try {
      checkForcedKernels(h.device, forced, [], h.label);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = h.kernels(batch).then((kernels) => {
      const limits = h.device.limits;
      // explain() scans its input's copy on the CPU before the run: no GPU input check.
      const graph = buildGraph(h.config, (name) => h.weight(name), { batch, maxWorkgroupStorage: limits.maxComputeWorkgroupStorageSize, kernels, storage: h.storage, scale: (name) => h.weight(`${name}#scale`), checkInput: false });
      const e = explainDispatches(h.config, batch, graph.dispatches, limits.maxComputeWorkgroupStorageSize, limits.maxComputeWorkgroupsPerDimension);
      const outputs = [...e.outputs, ...(graph.logits ? [graph.logits.tensor] : []), ...(h.config.pooling === 'map' ? ['pool.kv.out'] : [])];
      // Variants forced for the explain ops (LoadOptions.kernels.attention_probs) apply here; the
      // forward graph's dispatches already run their chosen variants and stay as they are.
      const dispatches = applyKernels(e.dispatches, kernels);
      return Plan.compile(h.device, `${h.label}.explain.b${batch}`, dispatches, { inputs: [graph.input.tensor], outputs }, { onCompile: h.onProgress }).then((plan) => ({ plan, logits: graph.logits?.tensor }));
    });
    this.plan = { batch, plan: p };
    p.catch(() => this.plan?.plan === p && (this.plan = undefined));
    // The previous plan frees its buffers once the runs queued on it are done.
    old?.plan.then((x) => x.plan.destroy(), () => undefined);
    return p;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const p = this.plan;
    this.plan = undefined;
    await p?.plan.then((x) => x.plan.destroy(), () => undefined);
  }
}

/** Turns the explain plan's outputs into the explanation (CPU, float64 where it sums). */
function explanation(c: ViTConfig, batch: number, out: Record<string, Float32Array>, logitsName: string | undefined, layer: number | undefined, label: string, probe?: Float32Array[]): AttentionExplanation {
  const s = shapeOf(c);
  const L = c.num_layers;
  const H = c.num_heads;
  const N = s.grid * s.grid;
  const T = s.tokens;
  const P = s.prefixTokens;
  // cls+mean (DINOv2): its embedding is the class token; map (SigLIP): the probe's attention starts the rollout.
  const pooling = c.pooling === 'mean' ? 'mean' : c.pooling === 'map' ? 'map' : 'cls';
  const distance: Float32Array[] = [];
  const attention: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    distance.push(meanDistance(out[distanceTensor(l)], batch, H, N));
    attention.push(out[probsTensor(l)]);
  }
  const rollout = Array.from({ length: batch }, (_, b) => rolloutRow(attention, b, T, P, probe?.[b] ?? (pooling as 'cls' | 'mean'), layer));
  const bad = [...distance, ...rollout].findIndex((a) => a.some((v) => !Number.isFinite(v)));
  if (bad >= 0) {
    throw new WebvitError('BAD_WEIGHTS', `${label}: explain produced non-finite attention values (NaN or ±Inf) although the input is finite: the model's weights overflow float32. Check the weight file; convert it again from the original checkpoint.`);
  }
  const rowWord = pooling === 'cls' ? 'from the class token' : pooling === 'map' ? "from the attention-pooling probe's attention (head-averaged)" : 'mean over patch queries (mean-pooled model)';
  const source = layer === undefined ? (pooling === 'mean' ? 'rollout, mean over patch queries (mean-pooled model)' : `rollout ${rowWord}`) : `layer ${layer} attention (head-averaged, raw), ${rowWord}`;
  return { batch, layers: L, heads: H, grid: s.grid, patchSize: c.patch_size, prefix: P, pooling, ...(probe ? { probe } : {}), distance, rollout, attention, source, logits: logitsName ? out[logitsName] : new Float32Array(0) };
}

/**
 * Image b's attention-pooling probe over its T tokens, averaged over the H heads, in float64:
 * mean_h softmax_t(q_h · k[b, t, h] / √Dh), from the query q [D] and kv [B, T, 2, H, Dh] (the
 * keys and values the graph's pool.kv matmul wrote). What the head's attention_pool kernel weighs
 * the values by, averaged as the layers' Ā are.
 */
export function probeAttention(q: Float32Array, kv: Float32Array, b: number, T: number, H: number): Float32Array {
  const D = q.length;
  const Dh = D / H;
  const row = new Float64Array(T);
  const s = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    probeSoftmaxRef(q, kv, b, h, T, H, Dh, s);
    for (let t = 0; t < T; t++) row[t] += s[t] / H;
  }
  return Float32Array.from(row);
}

/** dist [B, H, N] (per patch query) -> [B·H]: the mean over the N patch queries, summed in float64. */
export function meanDistance(dist: Float32Array, B: number, H: number, N: number): Float32Array {
  const r = new Float32Array(B * H);
  for (let i = 0; i < B * H; i++) {
    let sum = 0;
    for (let n = 0; n < N; n++) sum += dist[i * N + n];
    r[i] = sum / N;
  }
  return r;
}

// The types, the limits and the rollout, which the page needs without the explain kernels.
export { EXPLAIN_MAX_BYTES, explainLimits, rolloutRow, type AttentionExplanation, type ExplainBudget, type ExplainOptions } from './explain_budget.js';
