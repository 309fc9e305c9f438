import type { Binding, Dispatch, TensorRef } from '../kernels/kernel.js';
import { attention } from '../kernels/attention/op.js';
import { layerNorm } from '../kernels/layernorm/op.js';
import { linear } from '../kernels/matmul/op.js';
import type { WeightStorage } from '../kernels/matmul/weight_read.js';
import { patchEmbed } from '../kernels/patch_embed/op.js';
import { pool } from '../kernels/pool/op.js';
import { finiteCheck, finiteCheckChunks } from '../kernels/finite_check/op.js';
import { familyOf, MLP_ACTIVATIONS, shapeOf, type ViTConfig } from './config.js';
import { applyKernels, opDefinition, registerOps, type GraphKernels } from '../kernels/registry.js';
import type { BufferSlice } from '../kernels/kernel.js';
import { chunk, WebvitError } from '../errors.js';

export interface GraphOptions {
  batch: number;
  /** The variant each node runs (made by the tuner); each op's default variant when omitted. */
  kernels?: GraphKernels;
  /** Matmul weights stored other than as f32 on the GPU (weight_read.ts): halves, int8 or q4 codes. */
  storage?: ReadonlyMap<string, WeightStorage>;
  /** The scales of a quantised weight (int8, q4). */
  scale?: (name: string) => Binding;
  /** device.limits.maxComputeWorkgroupStorageSize */
  maxWorkgroupStorage: number;
  /** Start with finite_check on the input (default true; the explain plan checks on the CPU instead). */
  checkInput?: boolean;
  /**
   * Only the weights the graph reads are wanted (declaredWeights): a family op that has not been
   * loaded (loadGraphOps) is left out rather than refused.
   */
  declareOnly?: boolean;
}

/** The ops of src/kernels/family_ops.ts a config's graph dispatches (`mlp` names its gate's op). */
const familyOps = (c: ViTConfig) => [c.pooling === 'map' && 'attention_pool', c.mlp].filter((n): n is string => !!n);

/**
 * Loads and registers the family ops (src/kernels/family_ops.ts) that `c`'s graph dispatches,
 * before buildGraph makes a runnable graph of it. In the browser bundle they come with the
 * on-demand chunk (src/on_demand.ts), fetched only for models that need them.
 */
export async function loadGraphOps(c: ViTConfig): Promise<void> {
  if (familyOps(c).some((name) => !opDefinition(name))) registerOps((await chunk(import('../on_demand.js'))).FAMILY_OPS);
}

export interface ViTGraph {
  dispatches: Dispatch[];
  input: TensorRef;
  /** finite_check's output on the input: its first NaN or ±Inf and largest |value| per image (read back with the results); absent with checkInput false. */
  inputCheck?: TensorRef;
  features: TensorRef;
  logits?: TensorRef;
}

/**
 * How the graph gets a weight: by its canonical name, with the shape the graph reads it as and
 * whether a matmul reads it (such a weight may be stored as IEEE halves). The graph is the one
 * declaration of a model's weights: the tensors a weight file must hold, their shapes and which
 * are matrices are read from it (declaredWeights, src/model/weights.ts), not written again.
 */
export type WeightSource = (name: string, shape: readonly number[], matrix: boolean) => Binding;

/**
 * The ViT forward pass as a list of dispatches over named activation tensors (pre-norm blocks):
 *
 *   image [B, C, S, S] -> input.check                   finite_check (NaN/±Inf and largest |value|, per image)
 *   image [B, C, S, S] -> x [B·T, D]                    patch_embed (+ class token, positions)
 *   pre_norm:   x = LN0(x)                              (CLIP's pre_layrnorm)
 *   per block:  h = LN1(x); qkv = h·Wqkv + b            [B·T, 3D]
 *               a = attention(qkv)                       [B·T, D] (+ the family's score bias [H, T, T], if any)
 *               x = x + a·Wproj + b                      (residual fused into the matmul)
 *               u = act(LN2(x)·Wfc1 + b)                 [B·T, F] (GELU or hidden_act, fused)
 *                 swiglu: [x1 | x2] = LN2(x)·Wfc1 + b     [B·T, 2F]; u = silu(x1)·x2 [B·T, F]
 *               x = x + u·Wfc2 + b
 *   cls:  features = LN(x[:, :P])    (P prefix tokens: class, +distillation for DeiT → [B, P·D];
 *                                     pool first: layernorm is per row, so only B·P rows need it)
 *   mean: features = mean_t≥P LN(x)  [B, D]   (fc_norm: LN(mean_t≥P x), timm's global_pool='avg')
 *   projection_size: features = pooled·Wproj  [B, projection_size] (no bias; CLIP's visual_projection)
 *   cls+mean: features = LN(x)[:, 0]  [B, D]; m = mean_t≥P LN(x)  (DINOv2)
 *             logits = features·Whead + m·Whead_mean + b
 *   map:  xn = LN(x); kv = xn·Wkv + b         [B·T, 2D]  (SigLIP's attention-pooling head)
 *         a = attention_pool(q, kv)·Wo + bo   [B, D]     (q: the probe's query, one per head)
 *         features = a + fc2(act(fc1(LN_pool(a))))
 *   logits = features·Whead + b      [B, classes]
 */
export function buildGraph(c: ViTConfig, weight: WeightSource, o: GraphOptions): ViTGraph {
  const B = o.batch;
  const s = shapeOf(c);
  const family = familyOf(c);
  const D = c.hidden_size;
  const F = c.mlp_size;
  const T = s.tokens;
  const M = B * T;
  const t = (name: string, elements: number): TensorRef => ({ tensor: name, bytes: 4 * elements });
  const d: Dispatch[] = [];
  const eps = c.layer_norm_eps;
  /** A matmul weight's storage, and its scales when quantised. */
  const wq = (name: string) => {
    const s = o.storage?.get(name);
    return { wStorage: s, wScale: s === 'int8' || s === 'q4' ? o.scale!(name) : undefined };
  };
  const act = MLP_ACTIVATIONS[c.hidden_act ?? 'gelu'].activation;
  /** A vector or embedding weight; a matmul's weight matrix (`matrix`). */
  const vec = (name: string, shape: readonly number[]) => weight(name, shape, false);
  const mat = (name: string, shape: readonly number[]) => weight(name, shape, true);
  /** A family op's dispatch (src/kernels/family_ops.ts), once loadGraphOps registered it; declareOnly: left out until then. */
  const familyOp = (name: string, shape: object, b: Record<string, Binding>, label: string) => {
    const def = opDefinition(name);
    if (def) d.push(def.dispatch(shape, def.defaultVariant, b as unknown as Record<string, BufferSlice>, { label, maxWorkgroupStorage: o.maxWorkgroupStorage }));
    else if (!o.declareOnly) throw new WebvitError('BAD_ARGUMENT', `buildGraph: this model needs op ${name}, not loaded yet: await loadGraphOps(config)`);
  };

  const input = t('image', B * s.imageValues);
  const inputCheck = o.checkInput === false ? undefined : t('input.check', 2 * B * finiteCheckChunks(s.imageValues));
  if (inputCheck) d.push(finiteCheck({ label: 'input.check', batch: B, values: s.imageValues, x: input, out: inputCheck }));
  let x = t('x.embed', M * D);
  d.push(
    patchEmbed({
      label: 'patch_embed',
      batch: B,
      channels: c.num_channels,
      imageSize: c.image_size,
      patchSize: c.patch_size,
      D,
      image: input,
      w: mat('patch_embed.weight', [s.patchInner, D]), ...wq('patch_embed.weight'),
      bias: vec('patch_embed.bias', [D]),
      cls: c.class_token ? vec('cls_token', [D]) : undefined,
      dist: c.distilled ? vec('dist_token', [D]) : undefined,
      registers: c.register_tokens ? { tokens: vec('register_tokens', [c.register_tokens, D]), count: c.register_tokens } : undefined,
      pos: vec('pos_embed', [T, D]),
      out: x,
    }),
  );
  if (c.pre_norm) {
    const xn = t('x.pre_norm', M * D);
    d.push(layerNorm({ label: 'pre_norm', rows: M, D, eps, x, gamma: vec('pre_norm.weight', [D]), beta: vec('pre_norm.bias', [D]), out: xn }));
    x = xn;
  }
  for (let i = 0; i < c.num_layers; i++) {
    const p = `blocks.${i}`;
    const h = t(`${p}.norm1.out`, M * D);
    d.push(layerNorm({ label: `${p}.norm1`, rows: M, D, eps, x, gamma: vec(`${p}.norm1.weight`, [D]), beta: vec(`${p}.norm1.bias`, [D]), out: h }));
    const qkv = t(`${p}.attn.qkv.out`, M * 3 * D);
    d.push(
      linear({ label: `${p}.attn.qkv`, M, K: D, N: 3 * D, a: h, w: mat(`${p}.attn.qkv.weight`, [D, 3 * D]), ...wq(`${p}.attn.qkv.weight`), bias: c.qkv_bias ? vec(`${p}.attn.qkv.bias`, [3 * D]) : undefined, out: qkv, epilogue: 'none' }),
    );
    const att = t(`${p}.attn.out`, M * D);
    // A family's hook (FamilyModel.attentionBias, config.ts): a bias [H, T, T] added to the scores.
    const biasName = family?.attentionBias?.(c, i);
    const bias = biasName ? vec(biasName, [c.num_heads, T, T]) : undefined;
    d.push(attention({ label: `${p}.attn`, batch: B, T, heads: c.num_heads, headDim: s.headDim, qkv, out: att, bias, maxWorkgroupStorage: o.maxWorkgroupStorage }));
    const x1 = t(`${p}.x.attn`, M * D);
    d.push(linear({ label: `${p}.attn.proj`, M, K: D, N: D, a: att, w: mat(`${p}.attn.proj.weight`, [D, D]), ...wq(`${p}.attn.proj.weight`), bias: vec(`${p}.attn.proj.bias`, [D]), residual: x, out: x1, epilogue: 'residual' }));
    const h2 = t(`${p}.norm2.out`, M * D);
    d.push(layerNorm({ label: `${p}.norm2`, rows: M, D, eps, x: x1, gamma: vec(`${p}.norm2.weight`, [D]), beta: vec(`${p}.norm2.bias`, [D]), out: h2 }));
    const u = t(`${p}.mlp.hidden`, M * F);
    // SwiGLU: fc1 writes [x1 | x2] per row, [M, 2F], and the gate makes u = silu(x1)·x2 of it.
    const F1 = c.mlp ? 2 * F : F;
    const u1 = c.mlp ? t(`${p}.mlp.fc1.out`, M * F1) : u;
    d.push(linear({ label: `${p}.mlp.fc1`, M, K: D, N: F1, a: h2, w: mat(`${p}.mlp.fc1.weight`, [D, F1]), ...wq(`${p}.mlp.fc1.weight`), bias: vec(`${p}.mlp.fc1.bias`, [F1]), out: u1, epilogue: c.mlp ? 'none' : act }));
    if (c.mlp) familyOp(c.mlp, { rows: M, H: F }, { x: u1, out: u }, `${p}.mlp.${c.mlp}`);
    const x2 = t(`${p}.x.mlp`, M * D);
    d.push(linear({ label: `${p}.mlp.fc2`, M, K: F, N: D, a: u, w: mat(`${p}.mlp.fc2.weight`, [F, D]), ...wq(`${p}.mlp.fc2.weight`), bias: vec(`${p}.mlp.fc2.bias`, [D]), residual: x1, out: x2, epilogue: 'residual' }));
    x = x2;
  }
  const P = s.prefixTokens;
  const features = t('features', B * s.featureSize);
  // Projected: pooling and the final norm write `pooled`, which the projection reads.
  const pooled = c.projection_size ? t('pooled', B * s.pooledSize) : features;
  const norm = { gamma: vec('norm.weight', [D]), beta: vec('norm.bias', [D]) };
  /** cls+mean: the mean of the final-norm patch tokens, which the head reads beside the features. */
  let patchMean: TensorRef | undefined;
  if (c.pooling === 'map') {
    // SigLIP: every token normalised; one learned query per head attends over them, then a residual MLP.
    const xn = t('norm.out', M * D);
    d.push(layerNorm({ label: 'norm', rows: M, D, eps, x, ...norm, out: xn }));
    const kv = t('pool.kv.out', M * 2 * D);
    d.push(linear({ label: 'pool.kv', M, K: D, N: 2 * D, a: xn, w: mat('pool.kv.weight', [D, 2 * D]), ...wq('pool.kv.weight'), bias: vec('pool.kv.bias', [2 * D]), out: kv, epilogue: 'none' }));
    const po = t('pool.attn.out', B * D);
    const q = vec('pool.query', [D]);
    familyOp('attention_pool', { batch: B, T, heads: c.num_heads, headDim: s.headDim }, { q, kv, out: po }, 'pool.attn');
    const a = t('pool.proj.out', B * D);
    d.push(linear({ label: 'pool.proj', M: B, K: D, N: D, a: po, w: mat('pool.proj.weight', [D, D]), ...wq('pool.proj.weight'), bias: vec('pool.proj.bias', [D]), out: a, epilogue: 'none' }));
    const h = t('pool.norm.out', B * D);
    d.push(layerNorm({ label: 'pool.norm', rows: B, D, eps, x: a, gamma: vec('pool.norm.weight', [D]), beta: vec('pool.norm.bias', [D]), out: h }));
    const u = t('pool.mlp.hidden', B * F);
    d.push(linear({ label: 'pool.mlp.fc1', M: B, K: D, N: F, a: h, w: mat('pool.mlp.fc1.weight', [D, F]), ...wq('pool.mlp.fc1.weight'), bias: vec('pool.mlp.fc1.bias', [F]), out: u, epilogue: act }));
    d.push(linear({ label: 'pool.mlp.fc2', M: B, K: F, N: D, a: u, w: mat('pool.mlp.fc2.weight', [F, D]), ...wq('pool.mlp.fc2.weight'), bias: vec('pool.mlp.fc2.bias', [D]), residual: a, out: pooled, epilogue: 'residual' }));
  } else if (c.pooling === 'cls+mean') {
    // DINOv2: every token normalised; the class row is the features, the patch rows' mean goes to the head.
    const xn = t('norm.out', M * D);
    d.push(layerNorm({ label: 'norm', rows: M, D, eps, x, ...norm, out: xn }));
    d.push(pool({ label: 'pool.cls', mode: 'cls', batch: B, T, D, prefix: s.classTokens, x: xn, out: pooled }));
    patchMean = t('pool.mean', B * D);
    d.push(pool({ label: 'pool.mean', mode: 'mean', batch: B, T, D, prefix: P, x: xn, out: patchMean }));
  } else if (c.pooling === 'cls') {
    // [B, Pc, D] class (and distillation) rows, normalised as B·Pc rows -> features [B, Pc·D]; registers are not read
    const Pc = s.classTokens;
    const prefix = t('pool.cls', B * Pc * D);
    d.push(pool({ label: 'pool.cls', mode: 'cls', batch: B, T, D, prefix: Pc, x, out: prefix }));
    d.push(layerNorm({ label: 'norm', rows: B * Pc, D, eps, x: prefix, ...norm, out: pooled }));
  } else if (c.fc_norm) {
    const mean = t('pool.mean', B * D);
    d.push(pool({ label: 'pool.mean', mode: 'mean', batch: B, T, D, prefix: P, x, out: mean }));
    d.push(layerNorm({ label: 'fc_norm', rows: B, D, eps, x: mean, ...norm, out: pooled }));
  } else {
    const xn = t('norm.out', M * D);
    d.push(layerNorm({ label: 'norm', rows: M, D, eps, x, ...norm, out: xn }));
    d.push(pool({ label: 'pool.mean', mode: 'mean', batch: B, T, D, prefix: P, x: xn, out: pooled }));
  }
  if (c.projection_size) {
    d.push(linear({ label: 'proj', M: B, K: s.pooledSize, N: c.projection_size, a: pooled, w: mat('proj.weight', [s.pooledSize, c.projection_size]), ...wq('proj.weight'), out: features, epilogue: 'none' }));
  }
  let logits: TensorRef | undefined;
  if (c.num_classes > 0) {
    logits = t('logits', B * c.num_classes);
    // cls+mean: logits = [cls ; mean]·[Wcls ; Wmean] + b, as two matmuls (the second adds the first).
    const first = patchMean ? t('logits.cls', B * c.num_classes) : logits;
    d.push(linear({ label: 'head', M: B, K: s.featureSize, N: c.num_classes, a: features, w: mat('head.weight', [s.featureSize, c.num_classes]), ...wq('head.weight'), bias: vec('head.bias', [c.num_classes]), out: first, epilogue: 'none' }));
    if (patchMean) {
      d.push(linear({ label: 'head.mean', M: B, K: D, N: c.num_classes, a: patchMean, w: mat('head.mean_weight', [D, c.num_classes]), ...wq('head.mean_weight'), residual: first, out: logits, epilogue: 'residual' }));
    }
  }
  // Each builder ran its op's default variant; swap in the chosen ones (same labels and buffers).
  return { dispatches: applyKernels(d, o.kernels), input, inputCheck, features, logits };
}
