import type { Checkpoint, ConvertOptions, Planned } from '../convert/core.js';
import { convertClip, detectClip } from './clip/convert.js';
import { convertDinov2, detectDinov2 } from './dinov2/convert.js';
import { convertSiglip, detectSiglip } from './siglip/convert.js';
import { convertBeit, detectBeit } from './beit/convert.js';

/**
 * The model families beyond plain ViT/DeiT (docs/families.md, docs/adding-a-family.md): each is a
 * folder here holding its checkpoint map (which tensor names it reads, its config.json's fields),
 * and one line in FAMILIES. What a family's model computes is written in the one model definition
 * (src/model/config.ts fields, src/model/graph.ts), which the weight file's config switches on.
 */
export interface CheckpointFamily {
  /** The layout name (`webvit convert --layout`), and what the notes and errors call it. */
  layout: string;
  /** For the list of supported layouts in messages. */
  describe: string;
  /** Whether a checkpoint's tensor names are this family's. */
  detect(names: string[]): boolean;
  /** The conversion planned from the checkpoint's header and config (values made later: convert/lazy.ts). */
  convert(ckpt: Checkpoint, options: ConvertOptions): Planned;
}

export const FAMILIES: readonly CheckpointFamily[] = [
  { layout: 'clip', describe: 'clip (Hugging Face CLIPModel / CLIPVisionModel(WithProjection): the image tower)', detect: detectClip, convert: convertClip },
  { layout: 'dinov2', describe: 'dinov2 (Hugging Face Dinov2Model / Dinov2ForImageClassification)', detect: detectDinov2, convert: convertDinov2 },
  { layout: 'siglip', describe: 'siglip (Hugging Face SiglipModel / SiglipVisionModel / SiglipForImageClassification: the image tower)', detect: detectSiglip, convert: convertSiglip },
  { layout: 'beit', describe: 'beit (Hugging Face BeitModel / BeitForImageClassification)', detect: detectBeit, convert: convertBeit },
];
