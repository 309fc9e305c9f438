import type { CheckpointFamily } from '../types.js';
import { convertBeit, detectBeit } from './convert.js';
import { BEIT_MODEL } from './model.js';

/** BEiT: what runs it (model.ts) and what converts its checkpoints (convert.ts), for the registry (../index.ts). */
export const BEIT: CheckpointFamily = { model: BEIT_MODEL, layout: 'beit', describe: 'beit (Hugging Face BeitModel / BeitForImageClassification)', detect: detectBeit, convert: convertBeit };
