import fc from 'fast-check';
import { expectedTensors } from '../../src/model/weights.js';
import { MLP_ACTIVATIONS, parseConfig, shapeOf, type ViTConfig } from '../../src/model/config.js';
import { registerFamilies } from '../../src/model/families/index.js';
import type { BeitConfig } from '../../src/model/families/beit/model.js';
import type { LoadedWeights } from '../../src/model/weights.js';
import { patchEmbedRef } from '../../src/kernels/patch_embed/reference.js';
import { layerNormRef } from '../../src/kernels/layernorm/reference.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { attentionRef } from '../../src/kernels/attention/reference.js';
import { poolRef } from '../../src/kernels/pool/reference.js';
import { attentionPoolRef } from '../../src/kernels/attention_pool/reference.js';
import { swigluRef } from '../../src/kernels/swiglu/reference.js';

registerFamilies(); // the generated configs name BEiT (rel_pos_bias)
import { randn, rng } from '../../src/kernels/sample.js';

/**
 * Generated valid models for the model fuzz (test/fuzz/models.test.ts): random small configs,
 * seeded random weights, and the whole ViT forward pass in float64 to hold their logits against.
 */

/**
 * The ViT forward pass in float64, from the kernels' float64 references (patch embedding,
 * layernorm, linear layers, attention, pooling), following the graph of src/model/graph.ts's
 * comment: pre-norm blocks; cls pooling normalises the prefix rows [B, P·D]; mean pooling
 * averages normalised patch tokens (fc_norm: normalises the mean). `w` is what the loader read
 * (F16 files: the halves widened), so the reference sees exactly the weights the GPU holds.
 * Checked against the PyTorch golden logits of the fixtures in models.test.ts.
 */
export function vitForwardRef(w: LoadedWeights, input: ArrayLike<number>, B: number): { logits: Float64Array; features: Float64Array } {
  const c = w.config;
  const s = shapeOf(c);
  const t = (name: string) => {
    const x = w.tensors.get(name);
    if (!x) throw new Error(`vitForwardRef: no tensor ${name}`);
    return x;
  };
  const D = c.hidden_size;
  const T = s.tokens;
  const P = s.prefixTokens;
  const M = B * T;
  const eps = c.layer_norm_eps;
  const act = MLP_ACTIVATIONS[c.hidden_act ?? 'gelu'].activation;
  const R = c.register_tokens ?? 0;
  const regs = R ? t('register_tokens') : new Float32Array(0);
  const prefix = [...(c.class_token ? [t('cls_token')] : []), ...(c.distilled ? [t('dist_token')] : []), ...Array.from({ length: R }, (_, r) => regs.subarray(r * D, (r + 1) * D))];
  const Pc = s.classTokens;
  // image [B, C, S, S] -> x [B·T, D]
  let x = patchEmbedRef(input, t('patch_embed.weight'), t('patch_embed.bias'), prefix, t('pos_embed'), B, c.num_channels, c.image_size, c.patch_size, D);
  if (c.pre_norm) x = layerNormRef(x, t('pre_norm.weight'), t('pre_norm.bias'), M, D, eps);
  const bias = (c as BeitConfig).rel_pos_bias; // BEiT's relative position bias, per block or shared
  for (let l = 0; l < c.num_layers; l++) {
    const p = `blocks.${l}`;
    const h = layerNormRef(x, t(`${p}.norm1.weight`), t(`${p}.norm1.bias`), M, D, eps);
    // h [B·T, D] -> qkv [B, T, 3, H, Dh]
    const qkv = linearRef(h, t(`${p}.attn.qkv.weight`), c.qkv_bias ? t(`${p}.attn.qkv.bias`) : undefined, undefined, M, D, 3 * D, 'none');
    const att = attentionRef(qkv, B, T, c.num_heads, s.headDim, bias ? t(bias === 'layer' ? `${p}.attn.rel_pos_bias` : 'rel_pos_bias') : undefined);
    const x1 = linearRef(att, t(`${p}.attn.proj.weight`), t(`${p}.attn.proj.bias`), x, M, D, D, 'residual');
    const h2 = layerNormRef(x1, t(`${p}.norm2.weight`), t(`${p}.norm2.bias`), M, D, eps);
    // SwiGLU: fc1 to [M, 2F] = [x1 | x2], then silu(x1)·x2.
    const u = c.mlp ? swigluRef(linearRef(h2, t(`${p}.mlp.fc1.weight`), t(`${p}.mlp.fc1.bias`), undefined, M, D, 2 * c.mlp_size, 'none'), M, c.mlp_size) : linearRef(h2, t(`${p}.mlp.fc1.weight`), t(`${p}.mlp.fc1.bias`), undefined, M, D, c.mlp_size, act);
    x = linearRef(u, t(`${p}.mlp.fc2.weight`), t(`${p}.mlp.fc2.bias`), x1, M, c.mlp_size, D, 'residual');
  }
  const gamma = t('norm.weight');
  const beta = t('norm.bias');
  let features: Float64Array;
  let patchMean: Float64Array | undefined;
  if (c.pooling === 'map') {
    // SigLIP's attention-pooling head: the query per head over every final-norm token, then a residual MLP.
    const xn = layerNormRef(x, gamma, beta, M, D, eps);
    const kv = linearRef(xn, t('pool.kv.weight'), t('pool.kv.bias'), undefined, M, D, 2 * D, 'none');
    const o = attentionPoolRef(t('pool.query'), kv, B, T, c.num_heads, s.headDim);
    const a = linearRef(o, t('pool.proj.weight'), t('pool.proj.bias'), undefined, B, D, D, 'none');
    const h = layerNormRef(a, t('pool.norm.weight'), t('pool.norm.bias'), B, D, eps);
    const u = linearRef(h, t('pool.mlp.fc1.weight'), t('pool.mlp.fc1.bias'), undefined, B, D, c.mlp_size, act);
    features = linearRef(u, t('pool.mlp.fc2.weight'), t('pool.mlp.fc2.bias'), a, B, c.mlp_size, D, 'residual');
  } else if (c.pooling === 'cls+mean') {
    const xn = layerNormRef(x, gamma, beta, M, D, eps);
    features = poolRef(xn, 'cls', B, T, D, Pc);
    patchMean = poolRef(xn, 'mean', B, T, D, P);
  } else if (c.pooling === 'cls') features = layerNormRef(poolRef(x, 'cls', B, T, D, Pc), gamma, beta, B * Pc, D, eps); // [B, Pc·D]
  else if (c.fc_norm) features = layerNormRef(poolRef(x, 'mean', B, T, D, P), gamma, beta, B, D, eps);
  else features = poolRef(layerNormRef(x, gamma, beta, M, D, eps), 'mean', B, T, D, P);
  if (c.projection_size) features = linearRef(features, t('proj.weight'), undefined, undefined, B, s.pooledSize, c.projection_size, 'none');
  let logits = c.num_classes > 0 ? linearRef(features, t('head.weight'), t('head.bias'), undefined, B, s.featureSize, c.num_classes, 'none') : new Float64Array(0);
  if (patchMean && c.num_classes > 0) logits = linearRef(patchMean, t('head.mean_weight'), undefined, logits, B, D, c.num_classes, 'residual');
  return { logits, features };
}

/** A generated model: its config, the seed of its weights, and how the file stores them. */
export interface ModelSpec {
  config: ViTConfig;
  seed: number;
  dtype: 'F32' | 'F16';
  /** Scale of the weights' standard deviation relative to 1/√fan_in (1: the usual initialisation). */
  weightScale: number;
}

/**
 * Random small configs, valid by construction: 1-3 layers, 1-6 heads of 1-24 dims (odd ones
 * too), images of 1-6 patches per side of 1-9 pixels (token counts such as 2, 5, 10, 26, 37),
 * 1-4 channels, classes 0 (features only), 1, odd and even, both poolings with and without
 * class / distillation tokens and fc_norm, GELU or quick_gelu, with or without qkv bias.
 */
export const configArb: fc.Arbitrary<ViTConfig> = fc
  .record({
    heads: fc.integer({ min: 1, max: 6 }),
    headDim: fc.oneof(fc.constantFrom(1, 2, 3, 4, 8, 16), fc.integer({ min: 1, max: 24 })),
    layers: fc.integer({ min: 1, max: 3 }),
    grid: fc.integer({ min: 1, max: 6 }),
    patch: fc.integer({ min: 1, max: 9 }),
    channels: fc.constantFrom(1, 3, 3, 4),
    mlpRatio: fc.constantFrom(1, 2, 3, 4, 0.5),
    classes: fc.oneof(fc.constantFrom(0, 1, 2, 3, 7, 10), fc.integer({ min: 1, max: 50 })),
    eps: fc.constantFrom(1e-6, 1e-5, 1e-12),
    qkvBias: fc.boolean(),
    tokens: fc.constantFrom('cls', 'cls', 'cls+dist', 'mean+cls', 'mean', 'mean+fc_norm', 'mean+cls+fc_norm', 'cls+mean', 'map', 'map+cls'),
    act: fc.constantFrom<('gelu' | 'quick_gelu' | 'gelu_tanh' | undefined)>(undefined, 'gelu', 'quick_gelu', 'gelu_tanh'),
    // CLIP's pieces: a layernorm before the blocks, a projection of the pooled features (0: none).
    preNorm: fc.constantFrom<boolean | undefined>(undefined, undefined, false, true),
    // DINOv2's register tokens after the class token (0 or absent: none).
    registers: fc.constantFrom<number | undefined>(undefined, undefined, undefined, 0, 1, 4),
    projection: fc.oneof(fc.constant(undefined), fc.constant(0), fc.integer({ min: 1, max: 40 })),
    // BEiT's relative position bias, per block or shared.
    relPosBias: fc.constantFrom<'layer' | 'shared' | undefined>(undefined, undefined, undefined, 'layer', 'shared'),
    // DINOv2-g's SwiGLU MLP (fc1 to 2F, silu(x1)·x2).
    swiglu: fc.constantFrom(false, false, false, true),
  })
  .map((g) => {
    const D = g.heads * g.headDim;
    const cls = g.tokens !== 'mean' && g.tokens !== 'mean+fc_norm' && g.tokens !== 'map';
    const raw = {
      image_size: g.grid * g.patch,
      patch_size: g.patch,
      num_channels: g.channels,
      hidden_size: D,
      num_layers: g.layers,
      num_heads: g.heads,
      mlp_size: Math.max(1, Math.round(g.mlpRatio * D)),
      num_classes: g.classes,
      layer_norm_eps: g.eps,
      qkv_bias: g.qkvBias,
      pooling: g.tokens === 'cls+mean' ? 'cls+mean' : g.tokens.startsWith('map') ? 'map' : g.tokens.startsWith('mean') ? 'mean' : 'cls',
      class_token: cls,
      distilled: g.tokens === 'cls+dist',
      fc_norm: g.tokens.endsWith('fc_norm'),
      ...(g.act ? { hidden_act: g.act } : {}),
      ...(g.preNorm !== undefined ? { pre_norm: g.preNorm } : {}),
      ...(g.registers !== undefined && cls && g.tokens !== 'cls+dist' ? { register_tokens: g.registers } : {}),
      // DINOv2's cls+mean head takes no projection (parseConfig refuses the pair).
      ...(g.projection !== undefined && g.tokens !== 'cls+mean' && !g.tokens.startsWith('map') ? { projection_size: g.projection } : {}),
      // rel_pos_bias is BEiT's field (src/model/families/beit/model.ts): a config with it names the family.
      ...(g.relPosBias ? { family: 'beit', rel_pos_bias: g.relPosBias } : {}),
      ...(g.swiglu ? { mlp: 'swiglu' } : {}),
    };
    return parseConfig(raw, 'generated');
  });

export const modelSpecArb: fc.Arbitrary<ModelSpec> = fc.record({
  config: configArb,
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  dtype: fc.constantFrom('F32' as const, 'F32' as const, 'F16' as const),
  weightScale: fc.constantFrom(1, 1, 1, 0.1, 3),
});

/**
 * Seeded random weights for a config: matrices N(0, (scale/√fan_in)²), biases and tokens
 * N(0, 0.1²)·scale, layernorm gains 1 + N(0, 0.1²) and shifts N(0, 0.1²) — a trained ViT's
 * ranges, so the logits are of order 1.
 */
export function randomWeights(spec: ModelSpec): LoadedWeights {
  const r = rng(spec.seed);
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensors(spec.config)) {
    const n = shape.reduce((a, d) => a * d, 1);
    let v: Float32Array;
    if (/norm\d?\.weight$|^norm\.weight$/.test(name)) v = randn(r, n, 0.1, 1);
    else if (/norm\d?\.bias$|^norm\.bias$/.test(name)) v = randn(r, n, 0.1);
    else if (shape.length === 2 && name !== 'pos_embed') v = randn(r, n, spec.weightScale / Math.sqrt(shape[0]));
    else v = randn(r, n, 0.1 * spec.weightScale);
    tensors.set(name, v);
  }
  const labels = spec.config.num_classes > 0 ? Array.from({ length: spec.config.num_classes }, (_, i) => `class ${i}`) : undefined;
  return { config: spec.config, labels, tensors };
}

/** A short description of a config for messages and logs. */
export function describeConfig(c: ViTConfig): string {
  const s = shapeOf(c);
  return (
    `${c.num_layers}L D${c.hidden_size} H${c.num_heads} F${c.mlp_size} ${c.num_channels}ch ${c.image_size}px/${c.patch_size} T${s.tokens} ` +
    `${c.pooling}${c.class_token ? '+cls' : ''}${c.distilled ? '+dist' : ''}${c.fc_norm ? '+fc_norm' : ''} ${c.hidden_act ?? 'gelu'} ` +
    `${c.qkv_bias ? 'qkv_bias' : 'no_qkv_bias'} classes ${c.num_classes} eps ${c.layer_norm_eps}${c.pre_norm ? ' pre_norm' : ''}${c.projection_size ? ` proj ${c.projection_size}` : ''}${c.mlp ? ` mlp ${c.mlp}` : ''}`
  );
}

/**
 * max |got − want| / max |want| over all values; Infinity when a value is not finite, and when
 * want is all zero any difference counts absolutely.
 */
export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
    m = Math.max(m, Math.abs(want[i]));
  }
  return m > 0 ? d / m : d;
}
