import { clip, WebvitError } from '../../errors.js';
import { oneLine, preview } from '../json_preview.js';
import { checkNormalisation, type Interpolation, type PreprocessConfig } from '../../image/preprocess.js';
import { preprocessMetadata } from '../../image/preprocess_text.js';
import type { ViTConfig } from '../config.js';

/**
 * A timm model's config.json, as timm's push_to_hf_hub writes it beside the weights
 * (timm/models/_hub.py, save_config_for_hf): `architecture`, `num_classes`, `global_pool`,
 * `model_args` (when the model was made with non-default arguments), `label_names` and
 * `pretrained_cfg`, whose input_size, interpolation, crop_pct, crop_mode, mean and std say how
 * timm prepares an image for it (timm.data.resolve_data_config then create_transform with
 * is_training=False, transforms_factory.transforms_imagenet_eval):
 *
 *     scale = floor(input_size / crop_pct)
 *     Resize(scale, interpolation)   # the shorter side, PIL, as torchvision's Resize(int)
 *     CenterCrop(input_size)         # torchvision's
 *     ToTensor(), Normalize(mean, std)
 *
 * which is webvit's default (torchvision) preprocessing with those numbers. crop_mode "squash"
 * (resize both sides) and "border" (resize to fit, pad) are refused by name, as are non-square
 * input sizes and interpolations PIL has no reproduction of here; nothing is approximated.
 */

const TIMM_INTERPOLATIONS: Record<string, Interpolation> = { bicubic: 'bicubic', bilinear: 'bilinear', nearest: 'nearest' };
/** timm.data.constants.DEFAULT_CROP_PCT, used when pretrained_cfg has no crop_pct. */
const DEFAULT_CROP_PCT = 0.875;
const IMAGENET_DEFAULT = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export interface TimmConfigRead {
  /** `webvit.preprocess` metadata, when pretrained_cfg says how images are prepared. */
  metadata: Record<string, string>;
  /** The size pretrained_cfg.input_size states (the model's image size). */
  inputSize?: number;
}

const bad = (where: string, what: string): never => {
  throw new WebvitError('BAD_WEIGHTS', oneLine(`${where}: ${what}`));
};

/** Heads from config.json's model_args, when timm recorded them there. */
export function timmHeads(config: Record<string, unknown> | undefined): number | undefined {
  const args = config?.model_args;
  const h = typeof args === 'object' && args !== null ? (args as { num_heads?: unknown }).num_heads : undefined;
  return Number.isSafeInteger(h) && (h as number) > 0 ? (h as number) : undefined;
}

/** The size pretrained_cfg.input_size ([C, H, W]) states, checked square. */
export function timmInputSize(config: Record<string, unknown> | undefined, where: string): number | undefined {
  const pc = config?.pretrained_cfg;
  if (pc === undefined || pc === null) return undefined;
  if (typeof pc !== 'object' || Array.isArray(pc)) bad(where, `pretrained_cfg must be an object, got ${preview(pc)}`);
  const s = (pc as { input_size?: unknown }).input_size;
  if (s === undefined) return undefined;
  if (!Array.isArray(s) || s.length !== 3 || !s.every((v) => Number.isSafeInteger(v) && v >= 1 && v <= 16384)) bad(where, `pretrained_cfg.input_size must be [channels, height, width], got ${preview(s)}`);
  const [, h, w] = s as number[];
  if (h !== w) bad(where, `pretrained_cfg.input_size is ${h}×${w}: webvit runs square images; convert with --image-size N and set preprocessing with tools/set_preprocess.py`);
  return h;
}

/**
 * pretrained_cfg as `webvit.preprocess` for a model that runs at `config.image_size`: the
 * metadata, with notes saying what was read; empty (and a note) when there is no pretrained_cfg or
 * it is for another size.
 */
export function timmPreprocessMetadata(cfg: Record<string, unknown> | undefined, where: string, config: ViTConfig, notes: string[]): Record<string, string> {
  const pc = cfg?.pretrained_cfg as Record<string, unknown> | undefined;
  if (!pc) {
    notes.push(`no pretrained_cfg in config.json: webvit's default preprocessing (docs/weights-format.md#image-preprocessing-webvitpreprocess), not necessarily timm's for this model`);
    return {};
  }
  const size = timmInputSize(cfg, where) ?? config.image_size;
  if (size !== config.image_size) {
    notes.push(`${where} pretrained_cfg not used: it prepares ${size}×${size} images and the model now runs at ${config.image_size} (--image-size); set webvit.preprocess for it with tools/set_preprocess.py`);
    return {};
  }
  const mode = pc.crop_mode ?? 'center';
  if (mode !== 'center') bad(where, `pretrained_cfg.crop_mode ${preview(mode)}: webvit reproduces timm's "center" crop (resize the shorter side, centre crop); convert with --preprocessor-config none and set preprocessing with tools/set_preprocess.py`);
  const cropPct = pc.crop_pct ?? DEFAULT_CROP_PCT;
  if (typeof cropPct !== 'number' || !(cropPct > 0 && cropPct <= 4)) bad(where, `pretrained_cfg.crop_pct must be a number in (0, 4], got ${preview(cropPct)}`);
  const interp = pc.interpolation ?? 'bilinear';
  const interpolation = typeof interp === 'string' ? TIMM_INTERPOLATIONS[interp] : undefined;
  if (!interpolation) bad(where, `pretrained_cfg.interpolation ${preview(interp)}: webvit reproduces ${Object.keys(TIMM_INTERPOLATIONS).join(', ')}`);
  const channels = config.num_channels === 1 ? 'grayscale' : 'rgb';
  const vec = (name: 'mean' | 'std', d: number[]): number[] => {
    const v = pc[name] ?? d;
    if (!Array.isArray(v) || v.length !== config.num_channels || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      bad(where, `pretrained_cfg.${name} must be ${config.num_channels} finite numbers (one per channel), got ${preview(v)}`);
    }
    return v as number[];
  };
  const mean = vec('mean', IMAGENET_DEFAULT.mean);
  const std = vec('std', IMAGENET_DEFAULT.std);
  // Python: int(math.floor(img_size / crop_pct)), the same IEEE division and floor as here.
  const resize = Math.floor(size / (cropPct as number));
  if (resize < 1 || resize > 65535) bad(where, `pretrained_cfg.crop_pct ${cropPct} makes a resize to ${resize} pixels`);
  const p: PreprocessConfig = { resize, crop: size, interpolation: interpolation!, mean, std, channels, isDefault: false };
  checkNormalisation(p, `${where} pretrained_cfg`, ['mean', 'std', 'rescale']);
  notes.push(`preprocessing from ${clip(where, 200)} pretrained_cfg (timm's eval transform): resize the shorter side to ${resize} (${size} / crop_pct ${cropPct}, ${interpolation}), centre crop ${size}, mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}`);
  return { 'webvit.preprocess': preprocessMetadata(p) };
}
