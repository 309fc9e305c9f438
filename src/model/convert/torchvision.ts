import {
  checkShapeLimits,
  convWeight,
  countLayers,
  describeConfig,
  fail,
  finishWeights,
  gridOf,
  linearWeight,
  resolveHeads,
  resolveLabels,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from './core.js';
import type { Lazy } from './lazy.js';

/**
 * torchvision `VisionTransformer` (vit_b_16 ...) state dicts (docs/checkpoints.md#torchvision).
 * The MLP is `mlp.0` / `mlp.3` (torchvision ≥ 0.13) or `mlp.linear_1` / `mlp.linear_2` (older
 * saves, which torchvision itself still loads). Class-token pooling, layernorm eps 1e-6.
 */
export function detectTorchvision(names: string[]): boolean {
  return names.includes('conv_proj.weight') || names.some((n) => /^encoder\.layers\.encoder_layer_\d+\./.test(n));
}

export function convertTorchvision(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'torchvision');
  const notes: string[] = [];
  const pe = tk.shape('conv_proj.weight');
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a torchvision checkpoint: conv_proj.weight must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, 'conv_proj.weight', pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const [D, C, P] = pe!;
  const K = C * P * P;
  const L = countLayers(ckpt, /^encoder\.layers\.encoder_layer_(\d+)\./, 'encoder layer');
  const lp = (i: number) => `encoder.layers.encoder_layer_${i}.`;
  const oldMlp = tk.has(lp(0) + 'mlp.linear_1.weight');
  const fc1Name = oldMlp ? 'mlp.linear_1' : 'mlp.0';
  const fc2Name = oldMlp ? 'mlp.linear_2' : 'mlp.3';
  const fc1 = tk.shape(lp(0) + fc1Name + '.weight');
  if (!fc1 || fc1.length !== 2) fail(src, `as a torchvision checkpoint: ${lp(0)}mlp.0.weight must be [F, D], got ${fc1 ? `[${fc1.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, `${lp(0)}${fc1Name}.weight`, fc1!, [[0, 'mlp_size']]);
  const F = fc1![0];
  const pos = tk.shape('encoder.pos_embedding');
  if (!pos || pos.length !== 3 || pos[0] !== 1 || pos[2] !== D) fail(src, `as a torchvision checkpoint: encoder.pos_embedding must be [1, T, ${D}], got ${pos ? `[${pos.join(', ')}]` : 'none'}`);
  const T = pos![1];
  const grid = gridOf(src, 'encoder.pos_embedding', T, 1);
  const headShape = tk.shape('heads.head.weight');
  if (headShape) checkShapeLimits(src, 'heads.head.weight', headShape, [[0, 'num_classes']]);
  const numClasses = headShape ? headShape[0] : 0;
  const heads = resolveHeads(src, D, o.heads, undefined, '', notes);
  if (o.pooling && o.pooling !== 'cls') fail(src, `--pooling applies to timm checkpoints only; torchvision ViTs pool the class token`);
  notes.push(
    `read from shapes: hidden ${D} (conv_proj.weight), ${C} channel(s), patch ${P}, ${L} layers, MLP ${F}, ${grid}x${grid} patches + class token ` +
      `(encoder.pos_embedding ${T} rows) so image ${grid * P}, ${numClasses ? `head ${numClasses} classes` : 'no head (features only)'}`,
  );
  notes.push(`layer_norm_eps 1e-6 (torchvision's ViT; state dicts do not record it); pooling cls`);

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take('conv_proj.weight', [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.take('conv_proj.bias', [D]));
  t.set('cls_token', tk.take('class_token', [1, 1, D]));
  t.set('pos_embed', tk.take('encoder.pos_embedding', [1, T, D]));
  const qkvBias = tk.has(lp(0) + 'self_attention.in_proj_bias');
  for (let i = 0; i < L; i++) {
    const s = lp(i);
    const d = `blocks.${i}.`;
    t.set(d + 'norm1.weight', tk.take(s + 'ln_1.weight', [D]));
    t.set(d + 'norm1.bias', tk.take(s + 'ln_1.bias', [D]));
    t.set(d + 'attn.qkv.weight', linearWeight(tk.take(s + 'self_attention.in_proj_weight', [3 * D, D]), 3 * D, D));
    if (qkvBias) t.set(d + 'attn.qkv.bias', tk.take(s + 'self_attention.in_proj_bias', [3 * D]));
    t.set(d + 'attn.proj.weight', linearWeight(tk.take(s + 'self_attention.out_proj.weight', [D, D]), D, D));
    t.set(d + 'attn.proj.bias', tk.take(s + 'self_attention.out_proj.bias', [D]));
    t.set(d + 'norm2.weight', tk.take(s + 'ln_2.weight', [D]));
    t.set(d + 'norm2.bias', tk.take(s + 'ln_2.bias', [D]));
    t.set(d + 'mlp.fc1.weight', linearWeight(tk.take(`${s}${fc1Name}.weight`, [F, D]), F, D));
    t.set(d + 'mlp.fc1.bias', tk.take(`${s}${fc1Name}.bias`, [F]));
    t.set(d + 'mlp.fc2.weight', linearWeight(tk.take(`${s}${fc2Name}.weight`, [D, F]), D, F));
    t.set(d + 'mlp.fc2.bias', tk.take(`${s}${fc2Name}.bias`, [D]));
  }
  t.set('norm.weight', tk.take('encoder.ln.weight', [D]));
  t.set('norm.bias', tk.take('encoder.ln.bias', [D]));
  if (numClasses > 0) {
    t.set('head.weight', linearWeight(tk.take('heads.head.weight', [numClasses, D]), numClasses, D));
    t.set('head.bias', tk.take('heads.head.bias', [numClasses]));
  }
  tk.finish(`${L} layers, hidden ${D}, ${numClasses} classes`);
  const labels = resolveLabels(src, numClasses, o.labels, o.labelsSource, undefined, '', notes);
  const weights = finishWeights(
    src,
    {
      image_size: grid * P,
      patch_size: P,
      num_channels: C,
      hidden_size: D,
      num_layers: L,
      num_heads: heads,
      mlp_size: F,
      num_classes: numClasses,
      layer_norm_eps: 1e-6,
      qkv_bias: qkvBias,
      pooling: 'cls',
      class_token: true,
      distilled: false,
      fc_norm: false,
    },
    t,
    labels,
    o,
    notes,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  return { layout: 'torchvision', weights, notes };
}
