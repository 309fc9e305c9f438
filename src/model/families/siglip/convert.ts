import { preview } from '../../json_preview.js';
import { hfPreprocessMetadata, processorSquare } from '../../convert/hf_preprocess.js';
import { towerConfig, towerShape } from '../vision_tower.js';
import { badValueReason, firstBadValue, formatFloat32 } from '../../weights.js';
import type { MlpActivation } from '../../config.js';
import {
  checkShapeLimits,
  configNumber,
  convWeight,
  describeConfig,
  fail,
  finishWeights,
  labelsFromId2Label,
  linearWeight,
  resolveLabels,
  takeSplitQkvBlock,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from '../../convert/core.js';
import { derive, type Lazy } from '../../convert/lazy.js';

/**
 * The SigLIP image tower, from Hugging Face checkpoints (docs/families.md#siglip): a full
 * `SiglipModel` (its text tower, logit_scale and logit_bias are read past and named in the notes),
 * `SiglipVisionModel`, and `SiglipForImageClassification`. All keep the tower under
 * `vision_model.`. What transformers' SiglipVisionTransformer computes, and where it goes:
 *
 *   patch_embedding (conv with bias), position_embedding (one row per patch: no class token)
 *                                      -> patch_embed, pos_embed, class_token false
 *   encoder.layers.{i}: layer_norm1, self_attn q/k/v/out_proj, layer_norm2, mlp fc1/fc2
 *     (gelu_pytorch_tanh)              -> blocks.{i}, hidden_act "gelu_tanh"
 *   post_layernorm over every token    -> norm
 *   head (MultiheadAttentionPoolingHead): a learned probe attends over every token through an
 *     nn.MultiheadAttention (in_proj_weight: q, k, v rows; out_proj), then x + mlp(layernorm(x))
 *                                      -> pooling "map": pool.query = probe·Wqᵀ + bq (the same for
 *                                         every image: computed here in float64), pool.kv (k and v
 *                                         rows), pool.proj, pool.norm, pool.mlp.fc1/fc2
 *   SiglipForImageClassification: classifier on the mean of the post-layernorm tokens
 *                                      -> pooling "mean", head
 *
 * The embedding (`forward(..., { features: true })`, `clf.embed`) is the pooled output, what
 * SiglipModel.get_image_features returns (not normalised).
 */
export function detectSiglip(names: string[]): boolean {
  return names.some((n) => /^vision_model\.(head\.probe|head\.attention\.in_proj_weight)$/.test(n)) || (names.includes('vision_model.post_layernorm.weight') && !names.some((n) => n.startsWith('vision_model.embeddings.class_embedding') || n.startsWith('vision_model.pre_layrnorm')));
}

/** SiglipVisionConfig's defaults (transformers' configuration_siglip.py), for fields a config.json leaves out. */
const DEFAULTS = { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, num_channels: 3, image_size: 224, patch_size: 16, layer_norm_eps: 1e-6 };

/** HF activation names webvit runs, as webvit's. gelu_new and gelu_pytorch_tanh are the same tanh formula. */
const ACTIVATIONS: Record<string, MlpActivation> = { gelu_pytorch_tanh: 'gelu_tanh', gelu_new: 'gelu_tanh', gelu: 'gelu', quick_gelu: 'quick_gelu' };

/** The tensors of a full SiglipModel that are not the image tower. */
const isTextTower = (n: string) => n.startsWith('text_model.') || n === 'logit_scale' || n === 'logit_bias';

export function convertSiglip(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'siglip');
  const notes: string[] = [];
  const names = [...ckpt.tensors.keys()];
  if (!detectSiglip(names)) fail(src, `--layout siglip, but these tensors are not a SigLIP image tower's (no vision_model.head.probe or vision_model.post_layernorm without a class embedding); leave --layout out to detect the layout`);
  const where = ckpt.configSource ?? 'config.json';
  const cfg = ckpt.config;
  // The vision fields: SiglipModel and SiglipForImageClassification nest them in vision_config; a vision model's config is them.
  const { vision, vwhere } = towerConfig(ckpt, 'SigLIP', 'siglip', 'siglip_vision_model', '"siglip" (SiglipModel, SiglipForImageClassification) and "siglip_vision_model" (SiglipVisionModel)', notes);
  /** A vision field: the config's, else (with a config) SiglipVisionConfig's default, noted. */
  const field = (key: keyof typeof DEFAULTS, limit?: Parameters<typeof configNumber>[4]): number | undefined => {
    const v = configNumber(vision, key, vwhere, src, limit);
    if (v !== undefined || !cfg) return v;
    notes.push(`${key} ${DEFAULTS[key]}: SiglipVisionConfig's default (${vwhere} does not give it)`);
    return DEFAULTS[key];
  };

  const p = 'vision_model.';
  const peName = `${p}embeddings.patch_embedding.weight`;
  const posName = `${p}embeddings.position_embedding.weight`;
  const { D, C, P, L, F, grid, lp } = towerShape(tk, ckpt, 'SigLIP', field, vwhere, 0);
  const K = C * P * P;
  const T = grid * grid;
  const eps = field('layer_norm_eps') ?? 1e-6;
  const statedAct = vision.hidden_act;
  let act: MlpActivation = 'gelu_tanh';
  if (statedAct !== undefined) {
    if (typeof statedAct !== 'string' || !Object.hasOwn(ACTIVATIONS, statedAct)) fail(src, `${vwhere} hidden_act is ${preview(statedAct)}; webvit runs ${Object.keys(ACTIVATIONS).map((a) => `"${a}"`).join(', ')}`);
    act = ACTIVATIONS[statedAct as string];
  } else if (cfg) {
    notes.push(`hidden_act gelu_pytorch_tanh: SiglipVisionConfig's default (${vwhere} does not give it)`);
  }
  const heads = field('num_attention_heads', 'num_heads');
  if (heads === undefined && o.heads === undefined) fail(src, `as a SigLIP image tower without a config.json: the number of attention heads cannot be read from the tensors; pass --heads`);
  const H = o.heads ?? heads!;
  if (o.heads !== undefined && heads !== undefined && o.heads !== heads) fail(src, `--heads ${o.heads} contradicts ${vwhere} num_attention_heads ${heads}`);
  if (o.pooling) fail(src, '--pooling applies to timm checkpoints only; a SigLIP tower pools with its attention-pooling head, a SigLIP classifier with the token mean');

  const headShape = tk.shape('classifier.weight');
  if (headShape) checkShapeLimits(src, 'classifier.weight', headShape, [[0, 'num_classes']]);
  const classes = headShape ? headShape[0] : 0;
  const hp = `${p}head.`;
  const hasHead = tk.has(`${hp}probe`);
  // A vision config that says it has the head needs its weights (else the model would silently pool otherwise).
  // A string "false" is truthy to transformers: refused, not read as false nor as "not set".
  if (vision.vision_use_head !== undefined && typeof vision.vision_use_head !== 'boolean') fail(src, `${vwhere} vision_use_head must be true or false, got ${preview(vision.vision_use_head)}`);
  if (!hasHead && !classes && vision.vision_use_head !== false) {
    fail(src, `missing tensor ${hp}probe (the attention-pooling head): ${cfg ? `${vwhere} does not set vision_use_head false` : 'a SigLIP image tower pools with it'}; a checkpoint saved without the head converts with "vision_use_head": false in its config.json (the embedding is then the mean of the post-layernorm tokens)`);
  }

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take(peName, [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.take(`${p}embeddings.patch_embedding.bias`, [D]));
  t.set('pos_embed', tk.take(posName, [T, D]));
  for (let i = 0; i < L; i++) {
    const s = lp(i);
    const a = `${s}self_attn.`;
    takeSplitQkvBlock(tk, t, i, { norm1: `${s}layer_norm1`, q: `${a}q_proj`, k: `${a}k_proj`, v: `${a}v_proj`, out: `${a}out_proj`, norm2: `${s}layer_norm2`, fc1: `${s}mlp.fc1`, fc2: `${s}mlp.fc2` }, D, F!, true);
  }
  t.set('norm.weight', tk.take(`${p}post_layernorm.weight`, [D]));
  t.set('norm.bias', tk.take(`${p}post_layernorm.bias`, [D]));
  const pooling = classes ? 'mean' : hasHead ? 'map' : 'mean';
  const headNames = names.filter((n) => n.startsWith(hp));
  if (pooling === 'map') {
    const inW = tk.take(`${hp}attention.in_proj_weight`, [3 * D, D]);
    const inB = tk.take(`${hp}attention.in_proj_bias`, [3 * D]);
    const probe = tk.take(`${hp}probe`, [1, 1, D]);
    // The query is the probe through the query rows of in_proj: one vector for every image, in float64.
    const query = ([inWv, inBv, probev]: Float32Array[]) => {
      const q = new Float32Array(D);
      for (let j = 0; j < D; j++) {
        let acc = inBv[j];
        for (let k = 0; k < D; k++) acc += probev[k] * inWv[j * D + k];
        q[j] = acc;
      }
      // Each factor passed the weight limits when taken, their product need not: refuse it here, naming
      // the checkpoint's tensors (pool.query is webvit's name, one the user never saw).
      const at = firstBadValue(q);
      if (at >= 0) {
        fail(
          tk.ckpt.tensors.get(`${hp}probe`)?.file ?? src,
          `the attention-pooling head's query (${hp}probe through the query rows of ${hp}attention.in_proj_weight, plus in_proj_bias[${at}]) ` +
            `gives ${formatFloat32(q[at])} at index ${at}, ${badValueReason(q[at])}; the checkpoint's values are not a trained model's (a damaged or mis-exported file): re-download or re-export it`,
        );
      }
      return q;
    };
    t.set('pool.query', derive([inW, inB, probe], D, query));
    t.set('pool.kv.weight', linearWeight(derive([inW], 2 * D * D, ([v]) => v.subarray(D * D)), 2 * D, D));
    t.set('pool.kv.bias', derive([inB], 2 * D, ([v]) => v.slice(D)));
    const linear = (name: string, from: string, out: number, inp: number) => {
      t.set(`${name}.weight`, linearWeight(tk.take(`${from}.weight`, [out, inp]), out, inp));
      t.set(`${name}.bias`, tk.take(`${from}.bias`, [out]));
    };
    linear('pool.proj', `${hp}attention.out_proj`, D, D);
    t.set('pool.norm.weight', tk.take(`${hp}layernorm.weight`, [D]));
    t.set('pool.norm.bias', tk.take(`${hp}layernorm.bias`, [D]));
    linear('pool.mlp.fc1', `${hp}mlp.fc1`, F!, D);
    linear('pool.mlp.fc2', `${hp}mlp.fc2`, D, F!);
  } else if (headNames.length) {
    // SiglipForImageClassification classifies the token mean; a head saved beside it is not used.
    tk.drop(headNames);
    notes.push(`attention-pooling head ignored (${headNames.length} tensor(s) under ${hp}): SiglipForImageClassification classifies the mean of the tokens`);
  }
  if (classes) {
    t.set('head.weight', linearWeight(tk.take('classifier.weight', [classes, D]), classes, D));
    t.set('head.bias', tk.take('classifier.bias', [classes]));
  }
  const text = names.filter(isTextTower);
  const ids = names.filter((n) => n === `${p}embeddings.position_ids`);
  tk.drop([...text, ...ids]);
  if (text.length) notes.push(`text tower ignored: ${text.length} tensor(s) (text_model.*, logit_scale, logit_bias); webvit runs the image tower`);
  if (ids.length) notes.push(`dropped ${p}embeddings.position_ids: the buffer 0..N-1, which webvit's position embeddings need no index for`);
  tk.finish(`${cfg ? `${where}: ` : ''}${L} layers, hidden ${D}${classes ? `, ${classes} classes` : ''}`);
  notes.push(
    classes
      ? `classifier: ${classes} classes on the mean of the post-layernorm tokens (SiglipForImageClassification; pooling mean)`
      : pooling === 'map'
        ? 'embedding: the attention-pooling head\'s output (pooler_output, what SiglipModel.get_image_features returns; not normalised); its probe\'s query computed once, in float64'
        : 'no attention-pooling head (vision_use_head false): the embedding is the mean of the post-layernorm tokens',
  );
  // The size the model runs at: --image-size, else the processor's (SiglipImageProcessor resizes to
  // it; a size other than the stated one runs with the position grid resized, as interpolate_pos_encoding does).
  const pc = ckpt.preprocessor;
  const pSrc = ckpt.preprocessorSource ?? 'preprocessor_config.json';
  const made = pc && pc.do_resize !== false ? processorSquare(pc, 'size', pSrc, src) : undefined;
  if (made !== undefined && o.imageSize === undefined && made % P !== 0) fail(src, `${pSrc} size ${made} is not a multiple of the patch size ${P}: SigLIP cannot run at it; pass --image-size N (a multiple of ${P}) and --preprocessor-config none`);
  const run = o.imageSize ?? made ?? grid * P;
  if (run !== grid * P && o.imageSize === undefined) notes.push(`runs at ${run}×${run}, the size ${pSrc} resizes to (${vwhere} states ${grid * P}, the size its position embeddings were trained at)`);
  const id2label = labelsFromId2Label(src, `${where} id2label`, cfg?.id2label);
  const labels = resolveLabels(src, classes, o.labels, o.labelsSource, id2label, `${where} id2label`, notes);
  const weights = finishWeights(
    src,
    {
      image_size: grid * P,
      patch_size: P,
      num_channels: C,
      hidden_size: D,
      num_layers: L,
      num_heads: H,
      mlp_size: F!,
      num_classes: classes,
      layer_norm_eps: eps,
      qkv_bias: true,
      pooling,
      class_token: false,
      distilled: false,
      fc_norm: false,
      hidden_act: act,
      family: 'siglip',
    },
    t,
    labels,
    // transformers' interpolate_pos_encoding for SigLIP: bicubic, align_corners false, no antialias.
    { ...o, imageSize: run, resize: o.resize ?? 'bicubic' },
    notes,
    o.imageSize !== undefined ? '--image-size' : `${pSrc} size`,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  const metadata = hfPreprocessMetadata(ckpt, weights.config, weights.config.image_size, notes, "not SigLIP's (resize to 224×224, bicubic, mean and std 0.5)");
  return { layout: 'siglip', weights, notes, metadata };
}
