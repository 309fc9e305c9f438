import { preview } from '../../json_preview.js';
import { LIMITS, LIMITS_DOC } from '../../config.js';
import { hfPreprocessMetadata, processorSquare } from '../../convert/hf_preprocess.js';
import { resizePosEmbed, type Taps } from '../../convert/pos_embed.js';
import {
  checkShapeLimits,
  concat,
  configNumber,
  convWeight,
  countLayers,
  describeConfig,
  fail,
  finishWeights,
  foldLayerScale,
  labelsFromId2Label,
  linearWeight,
  resolveLabels,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from '../../convert/core.js';
import { derive, zeros, type Lazy } from '../../convert/lazy.js';

/**
 * BEiT from Hugging Face checkpoints (docs/families.md#beit): `BeitForImageClassification` and
 * `BeitModel` (under `beit.`). What transformers' BeitModel computes, and where it goes in webvit:
 *
 *   cls_token, patch_embeddings.projection, position_embeddings (only with
 *     use_absolute_position_embeddings; else webvit's pos_embed is zeros, exactly no positions)
 *                                      -> cls_token, patch_embed, pos_embed
 *   encoder.layer.{i}: layernorm_before, attention.attention query/key/value (query and value
 *     biases, no key bias: webvit's qkv bias has zeros for k), attention.output.dense, lambda_1,
 *     layernorm_after, intermediate.dense, output.dense (GELU), lambda_2
 *                                      -> blocks.{i}, each layer scale folded into the matmul before it
 *   relative position bias: a table [(2W−1)² + 3, H] per layer (use_relative_position_bias) or one
 *     for all (use_shared_relative_position_bias), indexed by each (query, key) pair's relative
 *     patch offset (class-token pairs take its 3 last rows)
 *                                      -> rel_pos_bias "layer" | "shared": the table expanded here to
 *                                         the [H, T, T] bias the attention kernels add to the scores
 *   pooler: layernorm of the patch tokens' mean (use_mean_pooling), else the final layernorm's
 *     class token                      -> pooling "mean" with fc_norm, or "cls"
 *
 * Run at another size (the processor's crop or --image-size), as transformers' BEiT does it: the
 * table's (2W−1)² grid rows resized bilinearly (align_corners false) to the new grid's, the three
 * class rows kept; absolute positions resized bicubically.
 */
/**
 * PyTorch's `F.interpolate(mode='bilinear', align_corners=False)` along one axis, as
 * BeitRelativePositionBias resizes its table: source index max((dst + 0.5)·in/out − 0.5, 0), two
 * taps, the second clamped at the border.
 */
export function bilinearTaps(inSize: number, outSize: number): Taps {
  const index: number[][] = [];
  const weight: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((inSize / outSize) * (o + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const t = src - i0;
    index.push([i0, Math.min(i0 + 1, inSize - 1)]);
    weight.push([1 - t, t]);
  }
  return { index, weight };
}

export function detectBeit(names: string[]): boolean {
  // Hugging Face ViT has the same encoder names: BEiT's are under beit., or have its layer scale or position-bias tables.
  return names.some((n) => /^beit\.encoder\.layer\.\d+\.layernorm_before\.weight$/.test(n) || /^(beit\.)?encoder\.(layer\.\d+\.(lambda_1|attention\.attention\.relative_position_bias\.relative_position_bias_table)|relative_position_bias\.relative_position_bias_table)$/.test(n));
}

/** BeitConfig's defaults (transformers' configuration_beit.py), for fields a config.json leaves out. */
const DEFAULTS = { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, layer_norm_eps: 1e-12, image_size: 224, patch_size: 16, num_channels: 3 };

/**
 * The relative position index of a g×g patch grid, as transformers' BeitRelativePositionBias makes
 * it: [T, T] (T = 1 + g², token 0 the class token) into a table of R + 3 rows, R = (2g − 1)²:
 * patch pairs at (dy + g − 1)·(2g − 1) + (dx + g − 1), (dy, dx) = query − key in (row, column)
 * patch coordinates; class → patch R, patch → class R + 1, class → class R + 2.
 */
export function relativePositionIndex(g: number): Int32Array {
  const T = 1 + g * g;
  const R = (2 * g - 1) * (2 * g - 1);
  const idx = new Int32Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      if (i === 0 || j === 0) {
        idx[i * T + j] = i === 0 && j === 0 ? R + 2 : i === 0 ? R : R + 1;
        continue;
      }
      const [qy, qx, ky, kx] = [Math.floor((i - 1) / g), (i - 1) % g, Math.floor((j - 1) / g), (j - 1) % g];
      idx[i * T + j] = (qy - ky + g - 1) * (2 * g - 1) + (qx - kx + g - 1);
    }
  }
  return idx;
}

/**
 * A table [(2w − 1)² + 3, H] (trained at a w×w window) as the [H, T, T] bias of a g×g grid: its
 * grid rows resized bilinearly to (2g − 1)² when g ≠ w (the class rows kept), then gathered by
 * relativePositionIndex(g). Float64 resize, rounded to float32 once.
 */
export function expandRelativeBias(table: Float32Array, heads: number, w: number, g: number): Float32Array {
  const n = 2 * w - 1;
  const m = 2 * g - 1;
  let rows = table;
  if (g !== w) {
    // resizePosEmbed keeps prefix rows in front: the 3 class rows go first, then come back last.
    const moved = new Float64Array(table.length);
    moved.set(table.subarray(n * n * heads), 0);
    moved.set(table.subarray(0, n * n * heads), 3 * heads);
    const resized = resizePosEmbed(moved, { prefix: 3, dim: heads, oldGrid: n, newGrid: m, taps: bilinearTaps });
    rows = new Float32Array((m * m + 3) * heads);
    rows.set(resized.subarray(3 * heads));
    rows.set(resized.subarray(0, 3 * heads), m * m * heads);
  }
  const T = 1 + g * g;
  const idx = relativePositionIndex(g);
  const out = new Float32Array(heads * T * T);
  for (let h = 0; h < heads; h++) for (let k = 0; k < T * T; k++) out[h * T * T + k] = rows[idx[k] * heads + h];
  return out;
}

export function convertBeit(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'beit');
  const notes: string[] = [];
  const names = [...ckpt.tensors.keys()];
  if (!detectBeit(names)) fail(src, `--layout beit, but these tensors are not BEiT's (no encoder.layer.*.layernorm_before, lambda_1 or relative_position_bias_table); leave --layout out to detect the layout`);
  const where = ckpt.configSource ?? 'config.json';
  if (!ckpt.config) fail(src, 'a BEiT checkpoint needs its config.json (which position biases it uses and its head count cannot be read from the tensors)');
  const c = ckpt.config!;
  if (c.model_type !== undefined && c.model_type !== 'beit') fail(src, `${where} model_type is ${preview(c.model_type)}, and the tensors are BEiT's (model_type "beit")`);
  if (names.some((n) => n.startsWith('lm_head.'))) fail(src, 'this is a BeitForMaskedImageModeling checkpoint (lm_head.*): webvit runs BeitModel and BeitForImageClassification');
  const act = c.hidden_act ?? 'gelu';
  if (act !== 'gelu') fail(src, `${where} hidden_act is ${preview(act)}; webvit runs BEiT with "gelu" (the exact erf GELU)`);
  notes.push(`config from ${where} (model_type ${preview(c.model_type ?? 'not given')}, architectures: ${Array.isArray(c.architectures) ? c.architectures.slice(0, 4).map((a) => preview(a)).join(', ') : 'not given'})`);
  const field = (key: keyof typeof DEFAULTS, limit?: Parameters<typeof configNumber>[4]): number => {
    const v = configNumber(c, key, where, src, limit);
    if (v !== undefined) return v;
    notes.push(`${key} ${DEFAULTS[key]}: BeitConfig's default (${where} does not give it)`);
    return DEFAULTS[key];
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const v = c[key] ?? dflt;
    if (typeof v !== 'boolean') fail(src, `${where} ${key} must be true or false, got ${preview(v)}`);
    return v as boolean;
  };

  const p = names.some((n) => n.startsWith('beit.')) ? 'beit.' : '';
  const peName = `${p}embeddings.patch_embeddings.projection.weight`;
  const pe = tk.shape(peName);
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a BEiT checkpoint: ${peName} must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, peName, pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const D = field('hidden_size', 'hidden_size');
  const C = field('num_channels', 'num_channels');
  const P = field('patch_size', 'patch_size');
  const K = C * P * P;
  const layerRe = new RegExp(`^${p.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`);
  const present = countLayers(ckpt, layerRe, 'encoder layer');
  const L = field('num_hidden_layers', 'num_layers');
  if (L > present) fail(src, `missing tensor(s) ${p}encoder.layer.${present}.*: ${where} num_hidden_layers is ${L} but the checkpoint has ${present ? `encoder layers 0-${present - 1} only` : 'no encoder layers'}`);
  const F = field('intermediate_size', 'mlp_size');
  const stated = field('image_size', 'image_size');
  if (stated % P !== 0) fail(src, `${where} image_size ${stated} is not a multiple of patch_size ${P}`);
  const W = stated / P;
  const eps = field('layer_norm_eps');
  const H = field('num_attention_heads', 'num_heads');
  if (o.heads !== undefined && o.heads !== H) fail(src, `--heads ${o.heads} contradicts ${where} num_attention_heads ${H}`);
  if (o.pooling) fail(src, '--pooling applies to timm checkpoints only; BEiT pools as its config says (use_mean_pooling)');
  const absolute = flag('use_absolute_position_embeddings', false);
  const perLayer = flag('use_relative_position_bias', false);
  const shared = flag('use_shared_relative_position_bias', false);
  if (perLayer && shared) fail(src, `${where} sets both use_relative_position_bias and use_shared_relative_position_bias; a BEiT has one or the other`);
  const meanPool = flag('use_mean_pooling', true);
  const layerScaleInit = c.layer_scale_init_value ?? 0.1;
  if (typeof layerScaleInit !== 'number' || !Number.isFinite(layerScaleInit)) fail(src, `${where} layer_scale_init_value must be a number, got ${preview(layerScaleInit)}`);
  const layerScale = (layerScaleInit as number) > 0;
  const headShape = tk.shape('classifier.weight');
  if (headShape) checkShapeLimits(src, 'classifier.weight', headShape, [[0, 'num_classes']]);
  const classes = headShape ? headShape[0] : 0;

  // The size the model runs at: --image-size, else the processor's crop, else the stated size.
  const pc = ckpt.preprocessor;
  const pSrc = ckpt.preprocessorSource ?? 'preprocessor_config.json';
  const crop = pc && pc.do_center_crop !== false ? processorSquare(pc, 'crop_size', pSrc, src) : undefined;
  if (crop !== undefined && o.imageSize === undefined && crop % P !== 0) fail(src, `${pSrc} crop_size ${crop} is not a multiple of the patch size ${P}: BEiT cannot run at it; pass --image-size N (a multiple of ${P}) and --preprocessor-config none`);
  const run = o.imageSize ?? crop ?? stated;
  if (!(Number.isInteger(run) && run >= P && run % P === 0)) fail(src, `--image-size ${run} is not a positive multiple of the patch size ${P}`);
  const G = run / P;
  // The bias is built here, [H, T, T] per table, before the config's own size check could refuse it.
  const biasValues = H * (1 + G * G) ** 2;
  if ((perLayer || shared) && biasValues > LIMITS.tensor_values) {
    const from = o.imageSize !== undefined ? `--image-size ${run}` : crop !== undefined ? `${pSrc} crop_size ${run}` : `${where} image_size ${run}`;
    fail(src, `${from} makes the relative position bias [${H}, ${1 + G * G}, ${1 + G * G}] ${biasValues} values, above the limit of ${LIMITS.tensor_values} values per tensor (${LIMITS_DOC}); run BEiT at a smaller size (--image-size N, a multiple of ${P})`);
  }
  if (run !== stated && o.imageSize === undefined) notes.push(`runs at ${run}×${run}, the crop of ${pSrc} (${where} states ${stated}, the size its position biases were trained at)`);

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take(peName, [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.take(`${p}embeddings.patch_embeddings.projection.bias`, [D]));
  t.set('cls_token', tk.take(`${p}embeddings.cls_token`, [1, 1, D]));
  // Absolute positions at the stated grid (finishWeights resizes them to the run size); none: zeros.
  t.set('pos_embed', absolute ? tk.take(`${p}embeddings.position_embeddings`, [1, 1 + W * W, D]) : zeros((1 + W * W) * D));
  const nTable = (2 * W - 1) * (2 * W - 1) + 3;
  const T = 1 + G * G;
  const indexNames: string[] = [];
  /**
   * A table as the [H, T, T] bias. Older checkpoints also hold the index (int64) the table is read
   * by; transformers ignores it on load and computes it for the grid it runs at, and so does webvit.
   */
  const bias = (base: string) => {
    const ix = `${base}.relative_position_index`;
    if (tk.has(ix)) indexNames.push(ix);
    // One table read, expanded to [H, T, T] when made: the table is buffered for this tensor only.
    return derive([tk.take(`${base}.relative_position_bias_table`, [nTable, H])], H * T * T, ([table]) => expandRelativeBias(table, H, W, G));
  };
  if (shared) t.set('rel_pos_bias', bias(`${p}encoder.relative_position_bias`));
  for (let i = 0; i < L; i++) {
    const s = `${p}encoder.layer.${i}.`;
    const a = `${s}attention.attention.`;
    const d = `blocks.${i}.`;
    t.set(`${d}norm1.weight`, tk.take(`${s}layernorm_before.weight`, [D]));
    t.set(`${d}norm1.bias`, tk.take(`${s}layernorm_before.bias`, [D]));
    t.set(`${d}attn.qkv.weight`, linearWeight(concat(['query', 'key', 'value'].map((x) => tk.take(`${a}${x}.weight`, [D, D]))), 3 * D, D));
    // BEiT's key has no bias: zeros there add exactly nothing.
    t.set(`${d}attn.qkv.bias`, concat([tk.take(`${a}query.bias`, [D]), zeros(D), tk.take(`${a}value.bias`, [D])]));
    if (perLayer) t.set(`${d}attn.rel_pos_bias`, bias(`${a}relative_position_bias`));
    const linear = (name: string, from: string, out: number, inp: number) => {
      t.set(`${d}${name}.weight`, linearWeight(tk.take(`${from}.weight`, [out, inp]), out, inp));
      t.set(`${d}${name}.bias`, tk.take(`${from}.bias`, [out]));
    };
    linear('attn.proj', `${s}attention.output.dense`, D, D);
    t.set(`${d}norm2.weight`, tk.take(`${s}layernorm_after.weight`, [D]));
    t.set(`${d}norm2.bias`, tk.take(`${s}layernorm_after.bias`, [D]));
    linear('mlp.fc1', `${s}intermediate.dense`, F, D);
    linear('mlp.fc2', `${s}output.dense`, D, F);
    // Layer scale (present when layer_scale_init_value > 0) folded into the matmul it scales.
    for (const [to, from, ls, rows] of [['attn.proj', `${s}attention.output.dense`, 1, D], ['mlp.fc2', `${s}output.dense`, 2, F]] as const) {
      const scale = `${s}lambda_${ls}`;
      // transformers makes lambda_1/2 when layer_scale_init_value > 0, else none (a saved one is then unused):
      // one missing is not "no layer scale" (transformers would start it at the init value, not 1).
      if (!layerScale) continue;
      if (!tk.has(scale)) fail(src, `missing tensor ${scale}: ${where} layer_scale_init_value is ${layerScaleInit}${c.layer_scale_init_value === undefined ? " (BeitConfig's default)" : ''}, so every layer scales its two branches by lambda_1 and lambda_2`);
      const folded = foldLayerScale(tk, t.get(`${d}${to}.weight`)!, t.get(`${d}${to}.bias`)!, rows, tk.take(scale, [D]), { weight: `${from}.weight`, bias: `${from}.bias`, scale });
      t.set(`${d}${to}.weight`, folded[0]);
      t.set(`${d}${to}.bias`, folded[1]);
    }
  }
  const normFrom = meanPool ? `${p}pooler.layernorm` : `${p}layernorm`;
  t.set('norm.weight', tk.take(`${normFrom}.weight`, [D]));
  t.set('norm.bias', tk.take(`${normFrom}.bias`, [D]));
  if (classes) {
    t.set('head.weight', linearWeight(tk.take('classifier.weight', [classes, D]), classes, D));
    t.set('head.bias', tk.take('classifier.bias', [classes]));
  }
  const dropped = [...indexNames, ...[`${p}embeddings.mask_token`].filter((n) => tk.has(n))];
  tk.drop(dropped);
  if (dropped.length) notes.push(`dropped ${dropped.length} tensor(s) (${dropped.slice(0, 2).join(', ')}${dropped.length > 2 ? ', …' : ''}): relative position indices (transformers ignores them on load and computes them; so does webvit) and the mask token (masked-image inputs only)`);
  tk.finish(`${where}: ${L} layers, hidden ${D}, ${classes} classes`);
  if (layerScale) notes.push('layer scale (lambda_1/2) folded into attention.output.dense and output.dense');
  notes.push('query and value biases, no key bias: webvit\'s fused qkv bias holds zeros for the key');
  if (perLayer || shared) notes.push(`relative position bias (${perLayer ? 'one table per layer' : 'one table shared by every layer'}) expanded to [${H}, ${T}, ${T}]${G !== W ? `, its grid rows resized ${2 * W - 1}×${2 * W - 1} -> ${2 * G - 1}×${2 * G - 1} (bilinear, align_corners=False)` : ''}`);
  if (!absolute) notes.push('no absolute position embeddings (use_absolute_position_embeddings false): webvit stores zeros');
  notes.push(
    classes
      ? `classifier: ${classes} classes on ${meanPool ? 'the layernorm of the patch tokens\' mean (pooler, use_mean_pooling)' : 'the final-norm class token'}`
      : `no classifier (BeitModel): the embedding is the pooler output (${meanPool ? 'layernorm of the patch tokens\' mean' : 'final-norm class token'})`,
  );
  const labels = resolveLabels(src, classes, o.labels, o.labelsSource, labelsFromId2Label(src, `${where} id2label`, c.id2label), `${where} id2label`, notes);
  const weights = finishWeights(
    src,
    {
      image_size: stated,
      patch_size: P,
      num_channels: C,
      hidden_size: D,
      num_layers: L,
      num_heads: H,
      mlp_size: F,
      num_classes: classes,
      layer_norm_eps: eps,
      qkv_bias: true,
      pooling: meanPool ? 'mean' : 'cls',
      class_token: true,
      distilled: false,
      fc_norm: meanPool,
      family: 'beit',
      ...(perLayer || shared ? { rel_pos_bias: perLayer ? ('layer' as const) : ('shared' as const) } : {}),
    },
    t,
    labels,
    // Absolute positions (BeitEmbeddings.interpolate_pos_encoding): bicubic, align_corners false.
    { ...o, imageSize: run, resize: o.resize ?? 'bicubic' },
    notes,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  const metadata = hfPreprocessMetadata(ckpt, weights.config, typeof crop === 'number' ? crop : weights.config.image_size, notes, "not BEiT's (resize 256, centre crop 224, bicubic, mean and std 0.5)");
  return { layout: 'beit', weights, notes, metadata };
}
