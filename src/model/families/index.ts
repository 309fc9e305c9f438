import { registerFamilyModels, type FamilyModel } from '../config.js';
import type { CheckpointFamily } from './types.js';
import { CLIP } from './clip/index.js';
import { DINOV2 } from './dinov2/index.js';
import { SIGLIP } from './siglip/index.js';
import { BEIT } from './beit/index.js';

/**
 * The model families beyond plain ViT/DeiT (docs/families.md, docs/adding-a-family.md): each is a
 * folder here holding what runs it (model.ts: its config fields, their tensors and its graph
 * hooks, FamilyModel in src/model/config.ts) and its checkpoint map (convert.ts: which tensor names it reads,
 * its config.json's fields), and one entry (with its import) in FAMILIES. The shared pieces a family's fields switch
 * on are written once in the model definition (src/model/config.ts, src/model/graph.ts).
 *
 * This module is not in a page's first download: a page gets it with the on-demand chunk
 * (src/on_demand.ts) when it loads a family's weights (loadWeights) or converts a checkpoint.
 */
export type { CheckpointFamily };

export const FAMILIES: readonly CheckpointFamily[] = [CLIP, DINOV2, SIGLIP, BEIT];

/** The families' models, for registerFamilyModels. */
export const FAMILY_MODELS: readonly FamilyModel[] = FAMILIES.map((f) => f.model);

/** Registers every family's model (FamilyModel, src/model/config.ts): what reading, converting or building a family's model needs first. */
export function registerFamilies(): void {
  registerFamilyModels(FAMILY_MODELS);
}

// Whatever loads the registry (the converter, the Hub loaders, the presets) can read every family's config.
registerFamilies();
