import type { CheckpointFamily } from '../types.js';
import { convertSiglip, detectSiglip } from './convert.js';
import { SIGLIP_MODEL } from './model.js';

/** SigLIP (the image tower): what runs it (model.ts) and what converts its checkpoints (convert.ts), for the registry (../index.ts). */
export const SIGLIP: CheckpointFamily = { model: SIGLIP_MODEL, layout: 'siglip', describe: 'siglip (Hugging Face SiglipModel / SiglipVisionModel / SiglipForImageClassification: the image tower)', detect: detectSiglip, convert: convertSiglip };
