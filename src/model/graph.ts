import type { Binding, Dispatch, TensorRef } from '../kernels/kernel.js';
import { attention } from '../kernels/attention/op.js';
import { layerNorm } from '../kernels/layernorm/op.js';
import { linear } from '../kernels/matmul/op.js';
import { patchEmbed } from '../kernels/patch_embed/op.js';
import { pool } from '../kernels/pool/op.js';
import { finiteCheck, finiteCheckChunks } from '../kernels/finite_check/op.js';
import { MLP_ACTIVATIONS, shapeOf, type ViTConfig } from './config.js';
import { applyKernels, type GraphKernels } from '../kernels/registry.js';

export interface GraphOptions {
  batch: number;
  /** The variant each node runs (made by the tuner); each op's default variant when omitted. */
  kernels?: GraphKernels;
  /** Matmul weights stored as IEEE halves on the GPU. */
  halfWeights?: ReadonlySet<string>;
  /** device.limits.maxComputeWorkgroupStorageSize */
  maxWorkgroupStorage: number;
  /** Start with finite_check on the input (default true; the explain plan checks on the CPU instead). */
  checkInput?: boolean;
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
 * The ViT forward pass as a list of dispatches over named activation tensors (pre-norm blocks):
 *
 *   image [B, C, S, S] -> input.check                   finite_check (NaN/±Inf and largest |value|, per image)
 *   image [B, C, S, S] -> x [B·T, D]                    patch_embed (+ class token, positions)
 *   per block:  h = LN1(x); qkv = h·Wqkv + b            [B·T, 3D]
 *               a = attention(qkv)                       [B·T, D]
 *               x = x + a·Wproj + b                      (residual fused into the matmul)
 *               u = act(LN2(x)·Wfc1 + b)                 [B·T, F] (GELU or hidden_act, fused)
 *               x = x + u·Wfc2 + b
 *   cls:  features = LN(x[:, :P])    (P prefix tokens: class, +distillation for DeiT → [B, P·D];
 *                                     pool first: layernorm is per row, so only B·P rows need it)
 *   mean: features = mean_t≥P LN(x)  [B, D]   (fc_norm: LN(mean_t≥P x), timm's global_pool='avg')
 *   logits = features·Whead + b      [B, classes]
 */
export function buildGraph(c: ViTConfig, weight: (name: string) => Binding, o: GraphOptions): ViTGraph {
  const B = o.batch;
  const s = shapeOf(c);
  const D = c.hidden_size;
  const F = c.mlp_size;
  const T = s.tokens;
  const M = B * T;
  const t = (name: string, elements: number): TensorRef => ({ tensor: name, bytes: 4 * elements });
  const d: Dispatch[] = [];
  const eps = c.layer_norm_eps;
  const half = (name: string) => o.halfWeights?.has(name) ?? false;
  const act = MLP_ACTIVATIONS[c.hidden_act ?? 'gelu'].activation;

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
      w: weight('patch_embed.weight'), wHalf: half('patch_embed.weight'),
      bias: weight('patch_embed.bias'),
      cls: c.class_token ? weight('cls_token') : undefined,
      dist: c.distilled ? weight('dist_token') : undefined,
      pos: weight('pos_embed'),
      out: x,
    }),
  );
  for (let i = 0; i < c.num_layers; i++) {
    const p = `blocks.${i}`;
    const h = t(`${p}.norm1.out`, M * D);
    d.push(layerNorm({ label: `${p}.norm1`, rows: M, D, eps, x, gamma: weight(`${p}.norm1.weight`), beta: weight(`${p}.norm1.bias`), out: h }));
    const qkv = t(`${p}.attn.qkv.out`, M * 3 * D);
    d.push(
      linear({ label: `${p}.attn.qkv`, M, K: D, N: 3 * D, a: h, w: weight(`${p}.attn.qkv.weight`), wHalf: half(`${p}.attn.qkv.weight`), bias: c.qkv_bias ? weight(`${p}.attn.qkv.bias`) : undefined, out: qkv, epilogue: 'none' }),
    );
    const att = t(`${p}.attn.out`, M * D);
    d.push(attention({ label: `${p}.attn`, batch: B, T, heads: c.num_heads, headDim: s.headDim, qkv, out: att, maxWorkgroupStorage: o.maxWorkgroupStorage }));
    const x1 = t(`${p}.x.attn`, M * D);
    d.push(linear({ label: `${p}.attn.proj`, M, K: D, N: D, a: att, w: weight(`${p}.attn.proj.weight`), wHalf: half(`${p}.attn.proj.weight`), bias: weight(`${p}.attn.proj.bias`), residual: x, out: x1, epilogue: 'residual' }));
    const h2 = t(`${p}.norm2.out`, M * D);
    d.push(layerNorm({ label: `${p}.norm2`, rows: M, D, eps, x: x1, gamma: weight(`${p}.norm2.weight`), beta: weight(`${p}.norm2.bias`), out: h2 }));
    const u = t(`${p}.mlp.hidden`, M * F);
    d.push(linear({ label: `${p}.mlp.fc1`, M, K: D, N: F, a: h2, w: weight(`${p}.mlp.fc1.weight`), wHalf: half(`${p}.mlp.fc1.weight`), bias: weight(`${p}.mlp.fc1.bias`), out: u, epilogue: act }));
    const x2 = t(`${p}.x.mlp`, M * D);
    d.push(linear({ label: `${p}.mlp.fc2`, M, K: F, N: D, a: u, w: weight(`${p}.mlp.fc2.weight`), wHalf: half(`${p}.mlp.fc2.weight`), bias: weight(`${p}.mlp.fc2.bias`), residual: x1, out: x2, epilogue: 'residual' }));
    x = x2;
  }
  const P = s.prefixTokens;
  const features = t('features', B * s.featureSize);
  const norm = { gamma: weight('norm.weight'), beta: weight('norm.bias') };
  if (c.pooling === 'cls') {
    // [B, P, D] prefix rows (class, distillation), normalised as B·P rows -> features [B, P·D]
    const prefix = t('pool.cls', B * P * D);
    d.push(pool({ label: 'pool.cls', mode: 'cls', batch: B, T, D, prefix: P, x, out: prefix }));
    d.push(layerNorm({ label: 'norm', rows: B * P, D, eps, x: prefix, ...norm, out: features }));
  } else if (c.fc_norm) {
    const mean = t('pool.mean', B * D);
    d.push(pool({ label: 'pool.mean', mode: 'mean', batch: B, T, D, prefix: P, x, out: mean }));
    d.push(layerNorm({ label: 'fc_norm', rows: B, D, eps, x: mean, ...norm, out: features }));
  } else {
    const xn = t('norm.out', M * D);
    d.push(layerNorm({ label: 'norm', rows: M, D, eps, x, ...norm, out: xn }));
    d.push(pool({ label: 'pool.mean', mode: 'mean', batch: B, T, D, prefix: P, x: xn, out: features }));
  }
  let logits: TensorRef | undefined;
  if (c.num_classes > 0) {
    logits = t('logits', B * c.num_classes);
    d.push(linear({ label: 'head', M: B, K: s.featureSize, N: c.num_classes, a: features, w: weight('head.weight'), wHalf: half('head.weight'), bias: weight('head.bias'), out: logits, epilogue: 'none' }));
  }
  // Each builder ran its op's default variant; swap in the chosen ones (same labels and buffers).
  return { dispatches: applyKernels(d, o.kernels), input, inputCheck, features, logits };
}
