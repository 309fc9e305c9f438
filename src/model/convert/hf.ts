import { LIMITS, MLP_ACTIVATIONS, type MlpActivation } from '../config.js';
import { hfPreprocessMetadata } from './hf_preprocess.js';
import { preview } from '../json_preview.js';
import { clip } from '../../errors.js';
import {
  checkLimit,
  checkShapeLimits,
  configBool,
  configNumber as num,
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
  takeSplitQkvBlock,
  TensorTaker,
  type Checkpoint,
  type ConvertOptions,
  type Planned,
} from './core.js';
import type { Lazy } from './lazy.js';

/**
 * Hugging Face transformers ViT (docs/checkpoints.md#hugging-face): `ViTForImageClassification`
 * (names under `vit.`, plus `classifier`) and `ViTModel` (saved without the `vit.` prefix, no
 * classifier: features only). Config from config.json when present (checked against every
 * tensor shape), otherwise inferred from shapes.
 *
 * Rule for tensors webvit does not run but accepts (dropped, and said so):
 * - `pooler.dense.*` (ViTModel's default add_pooling_layer=True): the pooler is tanh(dense(x₀))
 *   on the final-layernorm class row, an extra head HF's own ViTForImageClassification does not
 *   use. webvit's features are that class row itself (HF's `last_hidden_state[:, 0]`).
 * - `embeddings.mask_token` (use_mask_token=True): used only for masked-image-modelling inputs.
 */
export function detectHf(names: string[]): boolean {
  // Families built on HF ViT's encoder have these names too: detectLayout gives
  // a checkpoint that a family also fits to the family.
  return names.some((n) => /^(vit\.)?(embeddings\.patch_embeddings\.projection\.weight|encoder\.layer\.\d+\.attention\.attention\.)/.test(n));
}

export function convertHf(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const src = ckpt.source;
  const tk = new TensorTaker(ckpt, 'hf');
  const notes: string[] = [];
  const names = [...ckpt.tensors.keys()];
  const p = names.some((n) => n.startsWith('vit.')) ? 'vit.' : '';
  const cfg = ckpt.config;
  const where = ckpt.configSource ?? 'config.json';
  /** The MLP's activation when not the default GELU. */
  let hiddenAct: MlpActivation | undefined;
  if (cfg) {
    if (cfg.model_type !== undefined && cfg.model_type !== 'vit') fail(src, `${where} model_type is ${preview(cfg.model_type)}; webvit converts Hugging Face "vit" models (ViTForImageClassification, ViTModel)`);
    const act = cfg.hidden_act ?? 'gelu';
    if (typeof act !== 'string' || !Object.hasOwn(MLP_ACTIVATIONS, act)) {
      fail(src, `${where} hidden_act is ${preview(act)}; webvit's MLP runs ${Object.keys(MLP_ACTIVATIONS).map((a) => `"${a}"`).join(' or ')} (HF "gelu" is the exact erf GELU)`);
    }
    if (act !== 'gelu') {
      hiddenAct = act as MlpActivation;
      notes.push(`MLP activation ${act} (${where} hidden_act)`);
    }
    // Clipped: the file's text (a 20 MB name must not make a 20 MB line), each name and the list.
    const arch = Array.isArray(cfg.architectures) ? clip(cfg.architectures.slice(0, 20).map((a) => (typeof a === 'string' ? clip(a, 80) : preview(a))).join(', ') + (cfg.architectures.length > 20 ? `, … (${cfg.architectures.length} in all)` : ''), 400) : 'not given';
    notes.push(`config from ${where} (architectures: ${arch})`);
  } else {
    notes.push('no config.json beside the weights: config inferred from tensor shapes');
  }
  const c = cfg ?? {};
  const peName = `${p}embeddings.patch_embeddings.projection.weight`;
  const pe = tk.shape(peName);
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a Hugging Face ViT checkpoint: ${peName} must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, peName, pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const D = num(c, 'hidden_size', where, src, 'hidden_size') ?? pe![0];
  const C = num(c, 'num_channels', where, src, 'num_channels') ?? pe![1];
  const P = num(c, 'patch_size', where, src, 'patch_size') ?? pe![2];
  const K = C * P * P;
  const layerRe = new RegExp(`^${p.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`);
  const L = num(c, 'num_hidden_layers', where, src, 'num_layers') ?? countLayers(ckpt, layerRe, 'encoder layer');
  if (c.num_hidden_layers !== undefined) {
    // The stated count against the layers the file has, before mapping layer by layer.
    let present = 0;
    for (const n of names) {
      const m = layerRe.exec(n);
      if (m && Number(m[1]) < L) present = Math.max(present, Number(m[1]) + 1);
    }
    if (present < L) {
      fail(src, `missing tensor(s) ${p}encoder.layer.${present === L - 1 ? present : `{${present}-${L - 1}}`}.*: ${where} num_hidden_layers is ${L} but the checkpoint has ${present ? `encoder layers 0-${present - 1} only` : 'no encoder layers'}`);
    }
  }
  const lp = (i: number) => `${p}encoder.layer.${i}.`;
  const fc1 = tk.shape(lp(0) + 'intermediate.dense.weight');
  if (fc1) checkShapeLimits(src, lp(0) + 'intermediate.dense.weight', fc1, [[0, 'mlp_size']]);
  const F = num(c, 'intermediate_size', where, src, 'mlp_size') ?? fc1?.[0];
  if (F === undefined) fail(src, `as a Hugging Face ViT checkpoint: no ${lp(0)}intermediate.dense.weight to read the MLP size from`);
  const posName = `${p}embeddings.position_embeddings`;
  let grid: number;
  const imageSize = num(c, 'image_size', where, src, 'image_size');
  if (imageSize !== undefined) {
    if (imageSize % P !== 0) fail(src, `${where} image_size ${imageSize} is not a multiple of patch_size ${P}`);
    grid = imageSize / P;
  } else {
    const pos = tk.shape(posName);
    if (!pos || pos.length !== 3) fail(src, `as a Hugging Face ViT checkpoint: ${posName} must be [1, T, D], got ${pos ? `[${pos.join(', ')}]` : 'none'}`);
    grid = gridOf(src, posName, pos![1], 1);
  }
  const T = 1 + grid * grid;
  const eps = num(c, 'layer_norm_eps', where, src);
  const qkvBias = configBool(c, 'qkv_bias', where, src) ?? tk.has(lp(0) + 'attention.attention.query.bias');
  const headShape = tk.shape('classifier.weight');
  if (headShape) checkShapeLimits(src, 'classifier.weight', headShape, [[0, 'num_classes']]);
  const numClasses = headShape ? headShape[0] : 0;
  const heads = resolveHeads(src, D, o.heads, num(c, 'num_attention_heads', where, src, 'num_heads'), `${where} num_attention_heads`, notes);
  if (o.pooling && o.pooling !== 'cls') fail(src, `--pooling applies to timm checkpoints only; Hugging Face ViTs pool the class token`);
  if (!cfg) {
    notes.push(`read from shapes: hidden ${D}, ${C} channel(s), patch ${P}, ${L} layers, MLP ${F}, ${grid}x${grid} patches so image ${grid * P}`);
  }
  if (eps === undefined) notes.push(`ASSUMED layer_norm_eps 1e-12 (Hugging Face ViTConfig's default; ${cfg ? `${where} does not give it` : 'no config.json'})`);
  notes.push(numClasses ? `classifier: ${numClasses} classes, pooling cls` : 'no classifier (ViTModel): features only (final-layernorm class row)');

  const t = new Map<string, Lazy>();
  t.set('patch_embed.weight', convWeight(tk.take(peName, [D, C, P, P]), D, K));
  t.set('patch_embed.bias', tk.take(`${p}embeddings.patch_embeddings.projection.bias`, [D]));
  t.set('cls_token', tk.take(`${p}embeddings.cls_token`, [1, 1, D]));
  t.set('pos_embed', tk.take(posName, [1, T, D]));
  for (let i = 0; i < L; i++) {
    const s = lp(i);
    const d = `blocks.${i}.`;
    const a = s + 'attention.attention.';
    takeSplitQkvBlock(tk, t, i, { norm1: `${s}layernorm_before`, q: `${a}query`, k: `${a}key`, v: `${a}value`, out: `${s}attention.output.dense`, norm2: `${s}layernorm_after`, fc1: `${s}intermediate.dense`, fc2: `${s}output.dense` }, D, F!, qkvBias);
  }
  t.set('norm.weight', tk.take(`${p}layernorm.weight`, [D]));
  t.set('norm.bias', tk.take(`${p}layernorm.bias`, [D]));
  if (numClasses > 0) {
    t.set('head.weight', linearWeight(tk.take('classifier.weight', [numClasses, D]), numClasses, D));
    t.set('head.bias', tk.take('classifier.bias', [numClasses]));
  }
  const dropped = [`${p}pooler.dense.weight`, `${p}pooler.dense.bias`, `${p}embeddings.mask_token`].filter((n) => tk.has(n));
  if (dropped.length) {
    tk.drop(dropped);
    notes.push(
      `dropped ${dropped.join(', ')}: ` +
        [
          dropped.some((n) => n.includes('pooler')) ? "the pooler (tanh(dense(x0))) is not run: webvit's features are the final-layernorm class row, HF's last_hidden_state[:, 0]" : '',
          dropped.some((n) => n.includes('mask_token')) ? 'the mask token only serves masked-image-modelling inputs' : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
  }
  tk.finish(`${cfg ? `${where}: ` : ''}${L} layers, hidden ${D}, ${numClasses} classes`);
  const labels = resolveLabels(src, numClasses, o.labels, o.labelsSource, cfg ? labelsFromId2Label(src, `${where} id2label`, c.id2label) : undefined, `${where} id2label`, notes);
  const weights = finishWeights(
    src,
    {
      image_size: grid * P,
      patch_size: P,
      num_channels: C,
      hidden_size: D,
      num_layers: L,
      num_heads: heads,
      mlp_size: F!,
      num_classes: numClasses,
      layer_norm_eps: eps ?? 1e-12,
      qkv_bias: qkvBias,
      pooling: 'cls',
      class_token: true,
      distilled: false,
      fc_norm: false,
      // Absent for "gelu": files without the field mean it, and keep their bytes.
      ...(hiddenAct ? { hidden_act: hiddenAct } : {}),
    },
    t,
    labels,
    o,
    notes,
  );
  notes.push(`config: ${describeConfig(weights.config)}`);
  // preprocessor_config.json: HF's image processor as webvit.preprocess (hf_preprocess.ts).
  const metadata = hfPreprocessMetadata(ckpt, weights.config, grid * P, notes, 'not necessarily the processor the model was trained with');
  return { layout: 'hf', weights, notes, metadata };
}
