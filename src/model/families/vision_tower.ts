import { preview } from '../json_preview.js';
import { clip } from '../../errors.js';
import { checkShapeLimits, configNumber, countLayers, fail, gridOf, type Checkpoint, type TensorTaker } from '../convert/core.js';

/**
 * What the Hugging Face image towers of CLIP and SigLIP share: the same checkpoint names under
 * `vision_model.` (patch_embedding, position_embedding, encoder.layers.{i} with layer_norm1,
 * self_attn q/k/v/out_proj, layer_norm2, mlp fc1/fc2, post_layernorm) and the same config shape
 * (a full model nests the tower's fields in vision_config; a vision model's config is them). Each
 * family's converter reads them through here and maps the rest itself.
 */
export interface TowerConfig {
  /** The tower's fields (vision_config, or the whole config), {} without a config.json. */
  vision: Record<string, unknown>;
  /** How messages name where those fields are. */
  vwhere: string;
}

/**
 * The tower's config fields: `full` is the model_type of the full model (its fields in
 * vision_config), `tower` the vision model's; another model_type is refused with `accepts`
 * (which classes webvit reads). Notes what was read.
 */
export function towerConfig(ckpt: Checkpoint, family: string, full: string, tower: string, accepts: string, notes: string[]): TowerConfig {
  const src = ckpt.source;
  const where = ckpt.configSource ?? 'config.json';
  const cfg = ckpt.config;
  if (!cfg) {
    notes.push('no config.json beside the weights: config inferred from tensor shapes');
    return { vision: {}, vwhere: where };
  }
  const type = cfg.model_type;
  let vision: Record<string, unknown> = cfg;
  let vwhere = where;
  if (type === full) {
    const vc = cfg.vision_config ?? {};
    if (typeof vc !== 'object' || vc === null || Array.isArray(vc)) fail(src, `${where} vision_config must be an object, got ${preview(vc)}`);
    vision = vc as Record<string, unknown>;
    vwhere = `${where} vision_config`;
  } else if (type !== tower && type !== undefined) {
    fail(src, `${where} model_type is ${preview(type)}, and the tensors are a ${family} image tower's (vision_model.*); webvit reads ${accepts} configs`);
  }
  const arch = Array.isArray(cfg.architectures) ? clip(cfg.architectures.slice(0, 8).map((a) => (typeof a === 'string' ? clip(a, 80) : preview(a))).join(', '), 400) : 'not given';
  notes.push(`config from ${where} (model_type ${preview(type ?? 'not given')}, architectures: ${arch})`);
  return { vision, vwhere };
}

/** A tower's config field (the config's, or the family's default, noted by the caller's `field`). */
export type TowerField = (key: 'hidden_size' | 'num_channels' | 'patch_size' | 'num_hidden_layers' | 'intermediate_size' | 'image_size', limit: Parameters<typeof configNumber>[4]) => number | undefined;

/** The tower's sizes, from its config fields where given, else from the tensors' shapes. */
export interface TowerShape {
  D: number;
  C: number;
  P: number;
  L: number;
  F: number;
  /** Patches per side at the stated image size. */
  grid: number;
  /** Name prefix of encoder layer i. */
  lp(i: number): string;
}

/** Reads a tower's sizes (`family` names it in messages; `prefix` rows come before the patches' position rows: 1 for CLIP's class token, 0 for SigLIP). */
export function towerShape(tk: TensorTaker, ckpt: Checkpoint, family: string, field: TowerField, vwhere: string, prefix: number): TowerShape {
  const src = ckpt.source;
  const p = 'vision_model.';
  const peName = `${p}embeddings.patch_embedding.weight`;
  const pe = tk.shape(peName);
  if (!pe || pe.length !== 4 || pe[2] !== pe[3]) fail(src, `as a ${family} image tower: ${peName} must be [D, C, P, P], got ${pe ? `[${pe.join(', ')}]` : 'none'}`);
  checkShapeLimits(src, peName, pe!, [[0, 'hidden_size'], [1, 'num_channels'], [2, 'patch_size']]);
  const D = field('hidden_size', 'hidden_size') ?? pe![0];
  const C = field('num_channels', 'num_channels') ?? pe![1];
  const P = field('patch_size', 'patch_size') ?? pe![2];
  const present = countLayers(ckpt, /^vision_model\.encoder\.layers\.(\d+)\./, 'encoder layer');
  const L = field('num_hidden_layers', 'num_layers') ?? present;
  if (L > present) fail(src, `missing tensor(s) ${p}encoder.layers.${present === L - 1 ? present : `{${present}-${L - 1}}`}.*: ${vwhere} num_hidden_layers is ${L} but the checkpoint has ${present ? `encoder layers 0-${present - 1} only` : 'no encoder layers'}`);
  const lp = (i: number) => `${p}encoder.layers.${i}.`;
  const fc1 = tk.shape(lp(0) + 'mlp.fc1.weight');
  if (fc1) checkShapeLimits(src, lp(0) + 'mlp.fc1.weight', fc1, [[0, 'mlp_size']]);
  const F = field('intermediate_size', 'mlp_size') ?? fc1?.[0];
  if (F === undefined) fail(src, `as a ${family} image tower: no ${lp(0)}mlp.fc1.weight to read the MLP size from`);
  const posName = `${p}embeddings.position_embedding.weight`;
  let grid: number;
  const imageSize = field('image_size', 'image_size');
  if (imageSize !== undefined) {
    if (imageSize % P !== 0) fail(src, `${vwhere} image_size ${imageSize} is not a multiple of patch_size ${P}`);
    grid = imageSize / P;
  } else {
    const pos = tk.shape(posName);
    if (!pos || pos.length !== 2) fail(src, `as a ${family} image tower: ${posName} must be [${prefix ? 'T' : 'N'}, D], got ${pos ? `[${pos.join(', ')}]` : 'none'}`);
    grid = gridOf(src, posName, pos![0], prefix);
  }
  return { D, C, P, L, F: F!, grid, lp };
}
