import type { CheckpointFamily } from '../types.js';
import { convertDinov2, detectDinov2 } from './convert.js';
import { DINOV2_MODEL } from './model.js';

/** DINOv2: what runs it (model.ts) and what converts its checkpoints (convert.ts), for the registry (../index.ts). */
export const DINOV2: CheckpointFamily = { model: DINOV2_MODEL, layout: 'dinov2', describe: 'dinov2 (Hugging Face Dinov2Model / Dinov2ForImageClassification)', detect: detectDinov2, convert: convertDinov2 };
