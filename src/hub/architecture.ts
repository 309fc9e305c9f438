import { FAMILIES } from '../model/families/index.js';
import { clip, WebvitError } from '../errors.js';

/**
 * Whether a repository's config.json describes a model webvit runs, read before any weights are
 * downloaded: a Swin or a ResNet is refused by name at once, not after a 300 MB download. The
 * converter still checks every tensor; this only spares the download.
 */

/** Hugging Face transformers model_type values webvit converts (docs/checkpoints.md, docs/families.md). */
export const HF_MODEL_TYPES: readonly string[] = ['vit', 'deit', ...FAMILIES.flatMap((f) => f.model.hfModelTypes ?? [])];

/** timm architectures webvit converts: timm's vision_transformer and DeiT models. */
const TIMM_PREFIXES = ['vit_', 'deit_', 'deit3_'];

export const RUNS = `webvit runs ViT (ViTForImageClassification, ViTModel) and DeiT from transformers, ${FAMILIES.map((f) => f.describe).join(', ')}, and timm vit_* / deit_* models`;

/** Throws UNSUPPORTED naming the model's architecture when `config` is of one webvit does not run. */
export function checkArchitecture(id: string, config: Record<string, unknown> | undefined): void {
  if (!config) return;
  const modelType = config.model_type;
  const timmArch = config.architecture;
  const archs = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  if (typeof modelType === 'string') {
    if (HF_MODEL_TYPES.includes(modelType)) return;
    const name = archs.length ? `${archs.map((a) => clip(a, 80)).join(', ')} (model_type "${clip(modelType, 80)}")` : `model_type "${clip(modelType, 80)}"`;
    throw new WebvitError('UNSUPPORTED', `${clip(id, 200)} is a ${name} model, which webvit does not run: ${RUNS}`);
  }
  if (typeof timmArch === 'string') {
    if (TIMM_PREFIXES.some((p) => timmArch.startsWith(p))) return;
    throw new WebvitError('UNSUPPORTED', `${clip(id, 200)} is a timm ${clip(timmArch, 80)} model, which webvit does not run: ${RUNS}`);
  }
}
