import {
  checkShapeLimits,
  concat,
  convWeight,
  countLayers,
  describeConfig,
  fail,
  finishWeights,
  gridOf,
  labelsFromId2Label,
  linearWeight,
  resolveHeads,
  resolveLabels,
  foldLayerScale,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from './core.js';
import { derive, zeros, type Lazy } from './lazy.js';
import { timmHeads, timmPreprocessMetadata } from './timm_config.js';

/**
 * timm `vision_transformer` state dicts (docs/checkpoints.md#timm): class-token models,
 * global-average-pool models (with or without a class token; `fc_norm` present means timm's
 * `norm` is Identity and the final layernorm runs on the pooled mean), DeiT distilled models
 * (`dist_token`, `head_dist`: eval logits are the mean of both heads, folded into one head),
 * `no_embed_class` position embeddings (patch rows only: the prefix rows get zeros) and layer
 * scale (`ls1.gamma`, `ls2.gamma`, folded into attn.proj and mlp.fc2).
 */
export function detectTimm(names: string[]): boolean {
  return names.includes('patch_embed.proj.weight') || names.some((n) => /^blocks\.\d+\.attn\.qkv\.weight$/.test(n));
}

export function convertTimm(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'timm');
  const notes: string[] = [];
  const pe = tk.shape('patch_embed.proj.weight');
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a timm checkpoint: patch_embed.proj.weight must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, 'patch_embed.proj.weight', pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const [D, C, P] = pe!;
  const K = C * P * P;
  const L = countLayers(ckpt, /^blocks\.(\d+)\./, 'block');
  const fc1 = tk.shape('blocks.0.mlp.fc1.weight');
  if (!fc1 || fc1.length !== 2) fail(src, `as a timm checkpoint: blocks.0.mlp.fc1.weight must be [F, D], got ${fc1 ? `[${fc1.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, 'blocks.0.mlp.fc1.weight', fc1!, [[0, 'mlp_size']]);
  const F = fc1![0];
  const classToken = tk.has('cls_token');
  const distilled = tk.has('dist_token');
  if (distilled && !classToken) fail(src, `has dist_token but no cls_token; a DeiT distilled model has both`);
  const prefix = (classToken ? 1 : 0) + (distilled ? 1 : 0);
  const pos = tk.shape('pos_embed');
  if (!pos || pos.length !== 3 || pos[0] !== 1 || pos[2] !== D) fail(src, `as a timm checkpoint: pos_embed must be [1, T, ${D}], got ${pos ? `[${pos.join(', ')}]` : 'none'}`);
  const T = pos![1];
  // timm no_embed_class=True: pos_embed covers the patches only, prefix tokens get no position.
  const noEmbedClass = prefix > 0 && Number.isInteger(Math.sqrt(T)) && !Number.isInteger(Math.sqrt(T - prefix));
  const grid = noEmbedClass ? Math.sqrt(T) : gridOf(src, 'pos_embed', T, prefix);
  const hasFcNorm = tk.has('fc_norm.weight');
  const hasNorm = tk.has('norm.weight');
  if (hasFcNorm && hasNorm) fail(src, `has both norm.* and fc_norm.*: webvit runs one final layernorm (timm's global_pool='avg' models have fc_norm and no norm)`);
  const headShape = tk.shape('head.weight');
  if (headShape) checkShapeLimits(src, 'head.weight', headShape, [[0, 'num_classes']]);
  const numClasses = headShape ? headShape[0] : 0;
  if (distilled && headShape && !tk.has('head_dist.weight')) fail(src, `has dist_token and head but no head_dist; a DeiT distilled checkpoint has both heads`);

  let pooling = hasFcNorm || !classToken ? 'mean' : 'cls';
  // timm's config.json (push_to_hf_hub) records global_pool: 'avg' on a class-token model without fc_norm means mean pooling.
  const globalPool = ckpt.config?.global_pool;
  const poolFromConfig = o.pooling === undefined && globalPool === 'avg' && classToken && !hasFcNorm;
  if (poolFromConfig) pooling = 'mean';
  if (o.pooling && o.pooling !== pooling) {
    if (o.pooling === 'cls' && !classToken) fail(src, `--pooling cls needs a class token; this model has none`);
    if (o.pooling === 'cls' && hasFcNorm) fail(src, `--pooling cls contradicts fc_norm.* (timm uses fc_norm for global_pool='avg')`);
    pooling = o.pooling;
  }
  if (distilled && pooling !== 'cls') fail(src, `DeiT distilled models pool the class and distillation tokens; --pooling mean / fc_norm is not supported with dist_token`);
  const heads = resolveHeads(src, D, o.heads, timmHeads(ckpt.config), `${ckpt.configSource} model_args.num_heads`, notes);
  notes.push(
    `read from shapes: hidden ${D} (patch_embed.proj.weight), ${C} channel(s), patch ${P}, ${L} blocks, MLP ${F}, ` +
      `${grid}x${grid} patches (pos_embed ${T} rows${noEmbedClass ? ', patches only: no_embed_class' : ''}) so image ${grid * P}, ` +
      `${classToken ? 'class token' : 'no class token'}${distilled ? ' + distillation token (DeiT)' : ''}, ${numClasses ? `head ${numClasses} classes` : 'no head (features only)'}`,
  );
  notes.push(
    `pooling ${pooling}: ` +
      (hasFcNorm
        ? 'fc_norm.* present (global_pool=avg): mean of the patch tokens, then fc_norm'
        : o.pooling
          ? `from --pooling`
          : poolFromConfig
            ? `global_pool "avg" in ${ckpt.configSource}: mean of the patch tokens after the final norm`
          : classToken
            ? 'class token (timm default global_pool=token; pass --pooling mean for a model trained with global_pool=avg and no fc_norm)'
            : 'no class token: mean of the tokens after the final norm'),
  );
  notes.push(`layer_norm_eps 1e-6 (timm's ViT default; state dicts do not record it)`);

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take('patch_embed.proj.weight', [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.takeIf('patch_embed.proj.bias', [D]) ?? zeros(D));
  if (!tk.has('patch_embed.proj.bias')) notes.push('patch_embed.proj has no bias: zeros');
  if (classToken) t.set('cls_token', tk.take('cls_token', [1, 1, D]));
  if (distilled) t.set('dist_token', tk.take('dist_token', [1, 1, D]));
  const posData = tk.take('pos_embed', [1, T, D]);
  t.set('pos_embed', noEmbedClass ? concat([zeros(prefix * D), posData]) : posData);
  if (noEmbedClass) notes.push(`pos_embed has no prefix rows (no_embed_class): zero position rows added for the ${prefix} prefix token(s)`);
  const qkvBias = tk.has('blocks.0.attn.qkv.bias');
  let layerScale = false;
  for (let i = 0; i < L; i++) {
    const s = `blocks.${i}.`;
    const d = `blocks.${i}.`;
    t.set(d + 'norm1.weight', tk.take(s + 'norm1.weight', [D]));
    t.set(d + 'norm1.bias', tk.take(s + 'norm1.bias', [D]));
    t.set(d + 'attn.qkv.weight', linearWeight(tk.take(s + 'attn.qkv.weight', [3 * D, D]), 3 * D, D));
    if (qkvBias) t.set(d + 'attn.qkv.bias', tk.take(s + 'attn.qkv.bias', [3 * D]));
    let proj = linearWeight(tk.take(s + 'attn.proj.weight', [D, D]), D, D);
    let projBias = tk.take(s + 'attn.proj.bias', [D]);
    let fc2 = linearWeight(tk.take(s + 'mlp.fc2.weight', [D, F]), D, F);
    let fc2Bias = tk.take(s + 'mlp.fc2.bias', [D]);
    const fold = (ls: string, from: string, w: Lazy, b: Lazy, rows: number): [Lazy, Lazy] => {
      const scale = `${s}${ls}.gamma`;
      const g = tk.takeIf(scale, [D]);
      if (!g) return [w, b];
      layerScale = true;
      return foldLayerScale(tk, w, b, rows, g, { weight: `${s}${from}.weight`, bias: `${s}${from}.bias`, scale });
    };
    [proj, projBias] = fold('ls1', 'attn.proj', proj, projBias, D);
    [fc2, fc2Bias] = fold('ls2', 'mlp.fc2', fc2, fc2Bias, F);
    t.set(d + 'attn.proj.weight', proj);
    t.set(d + 'attn.proj.bias', projBias);
    t.set(d + 'norm2.weight', tk.take(s + 'norm2.weight', [D]));
    t.set(d + 'norm2.bias', tk.take(s + 'norm2.bias', [D]));
    t.set(d + 'mlp.fc1.weight', linearWeight(tk.take(s + 'mlp.fc1.weight', [F, D]), F, D));
    t.set(d + 'mlp.fc1.bias', tk.take(s + 'mlp.fc1.bias', [F]));
    t.set(d + 'mlp.fc2.weight', fc2);
    t.set(d + 'mlp.fc2.bias', fc2Bias);
  }
  if (layerScale) notes.push('layer scale (ls1.gamma, ls2.gamma) folded into attn.proj and mlp.fc2');
  const norm = hasFcNorm ? 'fc_norm' : 'norm';
  t.set('norm.weight', tk.take(`${norm}.weight`, [D]));
  t.set('norm.bias', tk.take(`${norm}.bias`, [D]));
  if (numClasses > 0) {
    const w = tk.take('head.weight', [numClasses, D]);
    const b = tk.take('head.bias', [numClasses]);
    if (distilled) {
      const wd = tk.take('head_dist.weight', [numClasses, D]);
      const bd = tk.take('head_dist.bias', [numClasses]);
      // [2D, classes] = 0.5·[W_headᵀ; W_distᵀ]; bias 0.5·(b + b_dist): timm's eval mean of both heads.
      const both = concat([linearWeight(w, numClasses, D), linearWeight(wd, numClasses, D)]);
      t.set('head.weight', derive([both], both.length, ([v]) => v.map((x) => 0.5 * x)));
      t.set('head.bias', derive([b, bd], numClasses, ([bv, bdv]) => bv.map((v, j) => 0.5 * (v + bdv[j]))));
      notes.push('DeiT: head and head_dist fused into one head on [class; distillation] features, 0.5·(head + head_dist) as timm does in eval');
    } else {
      t.set('head.weight', linearWeight(w, numClasses, D));
      t.set('head.bias', b);
    }
  }
  const context = `${L} blocks, hidden ${D}, ${numClasses} classes`;
  tk.finish(context);
  const cfgLabels = ckpt.config?.label_names;
  const labels = resolveLabels(
    src,
    numClasses,
    o.labels,
    o.labelsSource,
    Array.isArray(cfgLabels) ? labelsFromId2Label(src, `${ckpt.configSource} label_names`, Object.fromEntries(cfgLabels.map((l, i) => [String(i), l]))) : undefined,
    `${ckpt.configSource} label_names`,
    notes,
  );
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
      pooling: pooling as 'cls' | 'mean',
      class_token: classToken,
      distilled,
      fc_norm: hasFcNorm,
    },
    t,
    labels,
    o,
    notes,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  // config.json's pretrained_cfg (timm's own eval transform) as webvit.preprocess (timm_config.ts).
  const metadata = ckpt.config ? timmPreprocessMetadata(ckpt.config, ckpt.configSource ?? 'config.json', weights.config, notes) : {};
  return { layout: 'timm', weights, notes, metadata };
}
