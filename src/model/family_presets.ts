import type { ViTConfig } from './config.js';
import { FAMILIES } from './families/index.js';

/**
 * Other families' architectures at their published sizes, for benchmarks (`webvit bench model
 * --model clip-b16`): the image tower as its converter writes it. Each family's folder names its
 * own (FamilyModel.presets, src/model/families/<name>/model.ts).
 */
export const FAMILY_PRESETS: Readonly<Record<string, ViTConfig>> = Object.fromEntries(FAMILIES.flatMap((f) => Object.entries(f.model.presets ?? {})));
