import { MLP_ACTIVATIONS, type MlpActivation } from '../../config.js';
import { oneLine, preview } from '../../json_preview.js';
import { hfPreprocessMetadata } from '../../convert/hf_preprocess.js';
import { WebvitError } from '../../../errors.js';
import { towerConfig, towerShape } from '../vision_tower.js';
import {
  checkShapeLimits,
  configNumber,
  convWeight,
  describeConfig,
  fail,
  finishWeights,
  linearWeight,
  takeSplitQkvBlock,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from '../../convert/core.js';
import { zeros, type Lazy } from '../../convert/lazy.js';

/**
 * The CLIP image tower, from Hugging Face checkpoints (docs/families.md#clip): a full
 * `CLIPModel` (its text tower is read past and named in the notes), `CLIPVisionModelWithProjection`
 * and `CLIPVisionModel` (no projection: the embedding is the pooled output). All keep the tower
 * under `vision_model.`; the projection is `visual_projection.weight`.
 *
 * What the tower computes (transformers' CLIPVisionTransformer), and where it goes in webvit:
 *
 *   class_embedding, patch_embedding (conv, no bias), position_embedding -> cls_token, patch_embed
 *     (its bias: zeros, exactly no bias), pos_embed
 *   pre_layrnorm                       -> pre_norm (a layernorm over every token before the blocks)
 *   encoder.layers.{i}: layer_norm1, self_attn q/k/v/out_proj, layer_norm2, mlp fc1/fc2 (quick_gelu)
 *                                      -> blocks.{i} (q, k, v fused into one matmul)
 *   post_layernorm on the class token  -> norm, pooling "cls"
 *   visual_projection (no bias)        -> proj: the features are the image embedding, as
 *                                         CLIPModel.get_image_features returns it (not normalised)
 */
export function detectClip(names: string[]): boolean {
  // The class embedding and the pre-layernorm are CLIP's own: SigLIP's tower has the same encoder names without them.
  return names.some((n) => /^vision_model\.(embeddings\.class_embedding|pre_layrnorm\.weight)$/.test(n));
}

/** CLIPVisionConfig's defaults (transformers' configuration_clip.py), for fields a config.json leaves out. */
const DEFAULTS = { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, num_channels: 3, image_size: 224, patch_size: 32, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, projection_dim: 512 };

/** The tensors of a full CLIPModel that are not the image tower. */
const isTextTower = (n: string) => n.startsWith('text_model.') || n === 'text_projection.weight' || n === 'logit_scale';

export function convertClip(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const defaulted: string[] = [];
  try {
    return convertWith(ckpt, o, defaulted);
  } catch (e) {
    // A config.json without (some of) its vision fields gets CLIPVisionConfig's defaults, as
    // transformers does: an error they lead to says so (it read "num_hidden_layers is 12").
    if (!(e instanceof WebvitError) || !defaulted.length) throw e;
    throw new WebvitError(e.code, oneLine(`${e.message} (${ckpt.configSource ?? 'config.json'} does not give ${defaulted.join(', ')}: CLIPVisionConfig's defaults were used)`), { cause: e });
  }
}

function convertWith(ckpt: Checkpoint, o: ConvertOptions, defaulted: string[]): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'clip');
  const notes: string[] = [];
  const names = [...ckpt.tensors.keys()];
  // --layout clip on another model's tensors: say so, not what this reader would expect of them.
  if (!detectClip(names)) fail(src, `--layout clip, but these tensors are not a CLIP image tower's (no vision_model.embeddings.class_embedding or pre_layrnorm); leave --layout out to detect the layout`);
  const where = ckpt.configSource ?? 'config.json';
  const cfg = ckpt.config;
  // The vision fields: a CLIPModel nests them in vision_config; a vision model's config is them.
  const { vision, vwhere } = towerConfig(ckpt, 'CLIP', 'clip', 'clip_vision_model', '"clip" (CLIPModel) and "clip_vision_model" (CLIPVisionModel, CLIPVisionModelWithProjection)', notes);
  const projectionDim = cfg ? (configNumber(cfg, 'projection_dim', where, src, 'hidden_size') ?? configNumber(vision, 'projection_dim', vwhere, src, 'hidden_size')) : undefined;
  /** A vision field: the config's, else (with a config) CLIPVisionConfig's default, noted. */
  const field = (key: keyof typeof DEFAULTS, limit?: Parameters<typeof configNumber>[4]): number | undefined => {
    const v = configNumber(vision, key, vwhere, src, limit);
    if (v !== undefined || !cfg) return v;
    notes.push(`${key} ${DEFAULTS[key]}: CLIPVisionConfig's default (${vwhere} does not give it)`);
    defaulted.push(`${key} (${DEFAULTS[key]})`);
    return DEFAULTS[key] as number;
  };

  const p = 'vision_model.';
  const peName = `${p}embeddings.patch_embedding.weight`;
  const posName = `${p}embeddings.position_embedding.weight`;
  const { D, C, P, L, F, grid, lp } = towerShape(tk, ckpt, 'CLIP', field, vwhere, 1);
  const K = C * P * P;
  const T = 1 + grid * grid;
  const eps = field('layer_norm_eps') ?? 1e-5;
  let act: MlpActivation = 'quick_gelu';
  const statedAct = vision.hidden_act;
  if (statedAct !== undefined) {
    if (typeof statedAct !== 'string' || !Object.hasOwn(MLP_ACTIVATIONS, statedAct)) {
      fail(src, `${vwhere} hidden_act is ${preview(statedAct)}; webvit's MLP runs ${Object.keys(MLP_ACTIVATIONS).map((a) => `"${a}"`).join(', ')}`);
    }
    act = statedAct as MlpActivation;
  } else if (cfg) {
    notes.push(`hidden_act quick_gelu: CLIPVisionConfig's default (${vwhere} does not give it)`);
  }
  const heads = field('num_attention_heads', 'num_heads');
  if (heads === undefined && o.heads === undefined) fail(src, `as a CLIP image tower without a config.json: the number of attention heads cannot be read from the tensors; pass --heads`);
  const H = o.heads ?? heads!;
  if (o.heads !== undefined && heads !== undefined && o.heads !== heads) fail(src, `--heads ${o.heads} contradicts ${vwhere} num_attention_heads ${heads}`);
  if (o.pooling && o.pooling !== 'cls') fail(src, '--pooling applies to timm checkpoints only; a CLIP image tower pools its class token');

  // The projection: its rows are the embedding's width (projection_dim, which the config may state too).
  const projName = 'visual_projection.weight';
  const proj = tk.shape(projName);
  if (proj) checkShapeLimits(src, projName, proj, [[0, 'hidden_size']]);
  // A config naming a model with a projection (CLIPModel, ...WithProjection) needs its weights: without
  // them the file would convert as CLIPVisionModel, a model of another width.
  const archs = Array.isArray(cfg?.architectures) ? (cfg!.architectures as unknown[]) : [];
  if (!proj && (cfg?.model_type === 'clip' || archs.some((a) => a === 'CLIPModel' || a === 'CLIPVisionModelWithProjection'))) {
    fail(src, `missing tensor visual_projection.weight: ${where} describes ${cfg?.model_type === 'clip' ? 'a CLIPModel' : 'a CLIPVisionModelWithProjection'}, whose embedding is that projection`);
  }
  const Pd = proj ? (projectionDim ?? proj[0]) : 0;

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take(peName, [D, C, P, P]), D, K));
  t.set('patch_embed.bias', zeros(D)); // CLIP's patch conv has no bias: adding 0 is exact
  t.set('cls_token', tk.take(`${p}embeddings.class_embedding`, [D]));
  t.set('pos_embed', tk.take(posName, [T, D]));
  t.set('pre_norm.weight', tk.take(`${p}pre_layrnorm.weight`, [D]));
  t.set('pre_norm.bias', tk.take(`${p}pre_layrnorm.bias`, [D]));
  for (let i = 0; i < L; i++) {
    const s = lp(i);
    const a = `${s}self_attn.`;
    takeSplitQkvBlock(tk, t, i, { norm1: `${s}layer_norm1`, q: `${a}q_proj`, k: `${a}k_proj`, v: `${a}v_proj`, out: `${a}out_proj`, norm2: `${s}layer_norm2`, fc1: `${s}mlp.fc1`, fc2: `${s}mlp.fc2` }, D, F!, true);
  }
  t.set('norm.weight', tk.take(`${p}post_layernorm.weight`, [D]));
  t.set('norm.bias', tk.take(`${p}post_layernorm.bias`, [D]));
  if (Pd) t.set('proj.weight', linearWeight(tk.take(projName, [Pd, D]), Pd, D));

  // Read past, and said so: the text tower of a full CLIPModel, and the position_ids buffer
  // (0..T-1, which older checkpoints saved).
  const text = names.filter(isTextTower);
  const ids = names.filter((n) => n === `${p}embeddings.position_ids`);
  tk.drop([...text, ...ids]);
  if (text.length) notes.push(`text tower ignored: ${text.length} tensor(s) (text_model.*, text_projection, logit_scale); webvit runs the image tower`);
  if (ids.length) notes.push(`dropped ${p}embeddings.position_ids: the buffer 0..T-1, which webvit's position embeddings need no index for`);
  tk.finish(`${cfg ? `${where}: ` : ''}${L} layers, hidden ${D}${Pd ? `, projection ${Pd}` : ''}`);
  notes.push(Pd ? `embedding: visual_projection of the post-layernorm class token (${Pd} wide, not normalised: CLIPModel.get_image_features)` : 'no visual_projection (CLIPVisionModel): the embedding is the pooled output, the post-layernorm class token');
  notes.push('patch embedding has no bias in CLIP: webvit stores zeros');

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
      num_classes: 0,
      layer_norm_eps: eps,
      qkv_bias: true,
      pooling: 'cls',
      class_token: true,
      distilled: false,
      fc_norm: false,
      hidden_act: act,
      family: 'clip',
      pre_norm: true,
      ...(Pd ? { projection_size: Pd } : {}),
    },
    t,
    o.labels ? fail(src, `labels (${o.labelsSource ?? '--labels'}) do not apply: a CLIP image tower has no classifier (it gives embeddings); leave --labels out`) : undefined,
    o,
    notes,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  const metadata = hfPreprocessMetadata(ckpt, weights.config, grid * P, notes, "not CLIP's (resize to the short side, centre crop, OpenAI CLIP's mean and std)");
  return { layout: 'clip', weights, notes, metadata };
}
