import { preview } from '../../json_preview.js';
import { hfPreprocessMetadata, processorSquare } from '../../convert/hf_preprocess.js';
import {
  checkShapeLimits,
  configBool,
  configNumber,
  convWeight,
  countLayers,
  describeConfig,
  fail,
  finishWeights,
  labelsFromId2Label,
  resolveLabels,
  foldLayerScale,
  takeSplitQkvBlock,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from '../../convert/core.js';
import { derive, type Lazy } from '../../convert/lazy.js';

/**
 * DINOv2 from Hugging Face checkpoints (docs/families.md#dinov2): `Dinov2Model` (no prefix; its
 * embedding is the final-norm class token, the pooler output) and `Dinov2ForImageClassification`
 * (under `dinov2.`, plus `classifier`). What transformers' Dinov2Model computes, and where it goes:
 *
 *   cls_token, patch_embeddings.projection, position_embeddings -> cls_token, patch_embed, pos_embed,
 *     the position grid resized from the stated image_size (518 in real checkpoints) to the size
 *     the model runs at (the processor's crop, 224), as interpolate_pos_encoding does it: bicubic,
 *     align_corners false, no antialias
 *   encoder.layer.{i}: norm1, attention (query/key/value, output.dense), layer_scale1, norm2, mlp
 *     fc1/fc2 (GELU), layer_scale2 -> blocks.{i}, each layer scale folded into the matmul before it
 *     (x + γ ⊙ (a·W + b) = x + a·(W·diag γ) + γ ⊙ b)
 *   use_swiglu_ffn (the giant sizes; Dinov2SwiGLUFFN): mlp.weights_in [2H, D] -> mlp.fc1 [D, 2H]
 *     (its halves x1, x2 as chunk(2) splits them), mlp.weights_out [D, H] -> mlp.fc2 [H, D] with
 *     layer_scale2 folded, and mlp "swiglu": u = silu(x1)·x2 between them. H = 8·⌈⌊⌊D·mlp_ratio⌋·2/3⌋ / 8⌉
 *     (transformers' rounding: 4096 for D 1536, mlp_ratio 4); hidden_act is not read
 *   layernorm -> norm; the classifier reads [class token ; mean of the patch tokens], both after it
 *     -> pooling "cls+mean", head.weight and head.mean_weight
 *
 * `Dinov2WithRegisters…` (under `dinov2_with_registers.`): register tokens after the class token,
 * added after the positions (their pos rows are 0), left out of the patch mean; its position grid
 * is resized with antialiasing, as that class does it.
 */
export function detectDinov2(names: string[]): boolean {
  return names.some((n) => /^(dinov2\.|dinov2_with_registers\.)?encoder\.layer\.\d+\.layer_scale1\.lambda1$/.test(n));
}

export function convertDinov2(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'dinov2');
  const notes: string[] = [];
  const names = [...ckpt.tensors.keys()];
  const where = ckpt.configSource ?? 'config.json';
  if (!detectDinov2(names)) fail(src, `--layout dinov2, but these tensors are not DINOv2's (no encoder.layer.*.layer_scale1.lambda1); leave --layout out to detect the layout`);
  const cfg = ckpt.config;
  const withRegisters = names.some((n) => n.startsWith('dinov2_with_registers.') || n.endsWith('embeddings.register_tokens')) || cfg?.model_type === 'dinov2_with_registers';
  if (!cfg) fail(src, `a DINOv2 checkpoint needs its config.json (the stated image size, mlp_ratio and the head count cannot be read from the tensors)`);
  const c = cfg!;
  const type = withRegisters ? 'dinov2_with_registers' : 'dinov2';
  if (c.model_type !== undefined && c.model_type !== type) fail(src, `${where} model_type is ${preview(c.model_type)}, and the tensors are ${withRegisters ? 'DINOv2 with registers' : "DINOv2's"} (model_type "${type}")`);
  const swiglu = configBool(c, 'use_swiglu_ffn', where, src) ?? false;
  if (!swiglu && names.some((n) => n.endsWith('.mlp.weights_in.weight'))) fail(src, `${where} use_swiglu_ffn is ${c.use_swiglu_ffn === undefined ? 'not given (false)' : 'false'}, but the tensors hold a SwiGLU MLP (mlp.weights_in, mlp.weights_out): this config.json does not belong to these weights`);
  const act = c.hidden_act ?? 'gelu';
  // Dinov2SwiGLUFFN has no activation to choose: hidden_act is not read (facebook/dinov2-giant states "gelu").
  if (!swiglu && act !== 'gelu') fail(src, `${where} hidden_act is ${preview(act)}; webvit runs DINOv2 with "gelu" (the exact erf GELU)`);
  notes.push(`config from ${where} (model_type ${preview(c.model_type ?? 'not given')}, architectures: ${Array.isArray(c.architectures) ? c.architectures.slice(0, 4).map((a) => preview(a)).join(', ') : 'not given'})`);

  const p = names.some((n) => n.startsWith('dinov2.')) ? 'dinov2.' : names.some((n) => n.startsWith('dinov2_with_registers.')) ? 'dinov2_with_registers.' : '';
  const peName = `${p}embeddings.patch_embeddings.projection.weight`;
  const pe = tk.shape(peName);
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a DINOv2 checkpoint: ${peName} must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, peName, pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const D = configNumber(c, 'hidden_size', where, src, 'hidden_size') ?? pe![0];
  const C = configNumber(c, 'num_channels', where, src, 'num_channels') ?? pe![1];
  const P = configNumber(c, 'patch_size', where, src, 'patch_size') ?? pe![2];
  const K = C * P * P;
  const layerRe = new RegExp(`^${p.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`);
  const present = countLayers(ckpt, layerRe, 'encoder layer');
  const L = configNumber(c, 'num_hidden_layers', where, src, 'num_layers') ?? present;
  if (L > present) fail(src, `missing tensor(s) ${p}encoder.layer.${present}.*: ${where} num_hidden_layers is ${L} but the checkpoint has ${present ? `encoder layers 0-${present - 1} only` : 'no encoder layers'}`);
  const ratio = configNumber(c, 'mlp_ratio', where, src) ?? 4;
  // SwiGLU: transformers' hidden_features = int(D·mlp_ratio), then (int(that·2/3) + 7) // 8 · 8.
  const F = swiglu ? Math.floor((Math.trunc((Math.trunc(D * ratio) * 2) / 3) + 7) / 8) * 8 : Math.round(D * ratio);
  const stated = configNumber(c, 'image_size', where, src, 'image_size');
  if (stated === undefined) fail(src, `${where} gives no image_size: the position embeddings' grid cannot be told`);
  if (stated! % P !== 0) fail(src, `${where} image_size ${stated} is not a multiple of patch_size ${P}`);
  const grid = stated! / P;
  const T = 1 + grid * grid;
  const regName = `${p}embeddings.register_tokens`;
  const R = withRegisters ? (configNumber(c, 'num_register_tokens', where, src) ?? tk.shape(regName)?.[1] ?? 0) : 0;
  if (withRegisters && !(Number.isInteger(R) && R >= 1 && R <= 1024)) fail(src, `${where} num_register_tokens must be a whole number from 1 to 1024, got ${preview(c.num_register_tokens)}`);
  const eps = configNumber(c, 'layer_norm_eps', where, src) ?? 1e-6;
  const qkvBias = configBool(c, 'qkv_bias', where, src) ?? true;
  const heads = configNumber(c, 'num_attention_heads', where, src, 'num_heads');
  if (heads === undefined) fail(src, `${where} gives no num_attention_heads`);
  if (o.heads !== undefined && o.heads !== heads) fail(src, `--heads ${o.heads} contradicts ${where} num_attention_heads ${heads}`);
  if (o.pooling) fail(src, '--pooling applies to timm checkpoints only');
  const headShape = tk.shape('classifier.weight');
  if (headShape) checkShapeLimits(src, 'classifier.weight', headShape, [[0, 'num_classes']]);
  const classes = headShape ? headShape[0] : 0;

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take(peName, [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.take(`${p}embeddings.patch_embeddings.projection.bias`, [D]));
  t.set('cls_token', tk.take(`${p}embeddings.cls_token`, [1, 1, D]));
  if (R) t.set('register_tokens', tk.take(regName, [1, R, D]));
  const pos = tk.take(`${p}embeddings.position_embeddings`, [1, T, D]);
  if (R) {
    // Registers are inserted after the class token once positions are added: their rows are 0 (x + 0, exact).
    t.set(
      'pos_embed',
      derive([pos], (T + R) * D, ([v]) => {
        const withRows = new Float32Array((T + R) * D);
        withRows.set(v.subarray(0, D));
        withRows.set(v.subarray(D), (1 + R) * D);
        return withRows;
      }),
    );
  } else {
    t.set('pos_embed', pos);
  }
  for (let i = 0; i < L; i++) {
    const s = `${p}encoder.layer.${i}.`;
    const a = s + 'attention.attention.';
    const [fc1, fc2] = swiglu ? [`${s}mlp.weights_in`, `${s}mlp.weights_out`] : [`${s}mlp.fc1`, `${s}mlp.fc2`];
    takeSplitQkvBlock(tk, t, i, { norm1: `${s}norm1`, q: `${a}query`, k: `${a}key`, v: `${a}value`, out: `${s}attention.output.dense`, norm2: `${s}norm2`, fc1, fc2, ...(swiglu ? { fc1Width: 2 * F } : {}) }, D, F, qkvBias);
    // Layer scale folded into the matmul it scales: columns of W and entries of b times γ.
    for (const [to, from, ls, rows] of [['attn.proj', `${s}attention.output.dense`, 1, D], ['mlp.fc2', fc2, 2, F]] as const) {
      const name = `blocks.${i}.${to}`;
      const scale = `${s}layer_scale${ls}.lambda1`;
      const folded = foldLayerScale(tk, t.get(`${name}.weight`)!, t.get(`${name}.bias`)!, rows, tk.take(scale, [D]), { weight: `${from}.weight`, bias: `${from}.bias`, scale });
      t.set(`${name}.weight`, folded[0]);
      t.set(`${name}.bias`, folded[1]);
    }
  }
  t.set('norm.weight', tk.take(`${p}layernorm.weight`, [D]));
  t.set('norm.bias', tk.take(`${p}layernorm.bias`, [D]));
  if (classes) {
    // classifier [classes, 2D] over [cls ; patch mean]: its first D columns for the class token, the rest for the mean.
    const w = tk.take('classifier.weight', [classes, 2 * D]);
    const part = (from: number) =>
      derive([w], D * classes, ([wv]) => {
        const m = new Float32Array(D * classes);
        for (let j = 0; j < classes; j++) for (let k = 0; k < D; k++) m[k * classes + j] = wv[j * 2 * D + from + k];
        return m;
      });
    t.set('head.weight', part(0));
    t.set('head.bias', tk.take('classifier.bias', [classes]));
    t.set('head.mean_weight', part(D));
  }
  const dropped = [`${p}embeddings.mask_token`].filter((n) => tk.has(n));
  tk.drop(dropped);
  if (dropped.length) notes.push(`dropped ${dropped.join(', ')}: it only serves masked-image inputs`);
  tk.finish(`${where}: ${L} layers, hidden ${D}, ${classes} classes`);
  notes.push(`layer scale (layer_scale1/2.lambda1) folded into attention.output.dense and mlp.${swiglu ? 'weights_out' : 'fc2'}`);
  if (swiglu) notes.push(`SwiGLU MLP (use_swiglu_ffn): mlp.weights_in [${2 * F}, ${D}] as fc1 (halves x1, x2), silu(x1)·x2, mlp.weights_out [${D}, ${F}] as fc2; hidden_act not read`);
  if (R) notes.push(`${R} register tokens after the class token (position rows 0: they are added after the positions), left out of the pooling`);
  notes.push(classes ? `classifier: ${classes} classes on [final-norm class token ; mean of the final-norm patch tokens] (pooling cls+mean)` : 'no classifier (Dinov2Model): the embedding is the final-norm class token (the pooler output)');

  // The size the model runs at: --image-size, else the processor's crop, else the stated size.
  const pc = ckpt.preprocessor;
  const crop = pc && pc.do_center_crop !== false ? processorSquare(pc, 'crop_size', ckpt.preprocessorSource ?? 'preprocessor_config.json', src) : undefined;
  if (crop !== undefined && o.imageSize === undefined && crop % P !== 0) {
    fail(src, `${ckpt.preprocessorSource ?? 'preprocessor_config.json'} crop_size ${crop} is not a multiple of the patch size ${P}: DINOv2 cannot run at it; pass --image-size N (a multiple of ${P}) and --preprocessor-config none`);
  }
  const run = o.imageSize ?? crop ?? stated!;
  if (run !== stated && o.imageSize === undefined) notes.push(`runs at ${run}×${run}, the crop of ${ckpt.preprocessorSource ?? 'preprocessor_config.json'} (${where} states ${stated}, the size its position embeddings were trained at)`);
  const labels = resolveLabels(src, classes, o.labels, o.labelsSource, labelsFromId2Label(src, `${where} id2label`, c.id2label), `${where} id2label`, notes);
  const weights = finishWeights(
    src,
    {
      image_size: stated!,
      patch_size: P,
      num_channels: C,
      hidden_size: D,
      num_layers: L,
      num_heads: heads!,
      mlp_size: F,
      num_classes: classes,
      layer_norm_eps: eps,
      qkv_bias: qkvBias,
      pooling: classes ? 'cls+mean' : 'cls',
      class_token: true,
      distilled: false,
      fc_norm: false,
      family: 'dinov2',
      ...(R ? { register_tokens: R } : {}),
      ...(swiglu ? { mlp: 'swiglu' as const } : {}),
    },
    t,
    labels,
    // transformers' interpolate_pos_encoding: bicubic, align_corners false; antialiased in the
    // registers class (Dinov2WithRegisters), not in Dinov2's.
    { ...o, imageSize: run, resize: o.resize ?? (R ? 'bicubic-antialias' : 'bicubic') },
    notes,
    o.imageSize === undefined && crop !== undefined ? `${ckpt.preprocessorSource ?? 'preprocessor_config.json'} crop_size` : undefined,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  // The processor prepares its crop; with --image-size elsewhere it is not used (and said so).
  const metadata = hfPreprocessMetadata(ckpt, weights.config, typeof crop === 'number' ? crop : weights.config.image_size, notes, "not DINOv2's (shorter side 256, centre crop 224, bicubic, ImageNet mean and std)");
  return { layout: 'dinov2', weights, notes, metadata };
}
