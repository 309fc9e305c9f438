import type { CheckpointFamily } from '../types.js';
import { convertClip, detectClip } from './convert.js';
import { CLIP_MODEL } from './model.js';

/** CLIP (the image tower): what runs it (model.ts) and what converts its checkpoints (convert.ts), for the registry (../index.ts). */
export const CLIP: CheckpointFamily = { model: CLIP_MODEL, layout: 'clip', describe: 'clip (Hugging Face CLIPModel / CLIPVisionModel(WithProjection): the image tower)', detect: detectClip, convert: convertClip };
