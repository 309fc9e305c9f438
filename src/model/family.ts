import { clip, WebvitError } from '../errors.js';
import type { ViTConfig, ViTShape } from './config.js';

/**
 * What a model family (docs/adding-a-family.md) adds to the one model definition when a model
 * runs: the config fields it owns, the tensors they size, and the graph pieces they switch on
 * through the graph's hooks. Each family's folder writes one (src/model/families/<name>/model.ts)
 * and its registry line (src/model/families/index.ts) registers it; nothing outside the folder
 * names the family or its fields.
 *
 * The families' code is not part of a page's first download: a page reads a family's weight file
 * with loadWeights, which fetches the on-demand chunk (src/on_demand.ts) and registers them first.
 * Node's entry points register every family at start.
 */
export interface FamilyModel {
  /** Its `family` in the config (`webvit.config`). */
  name: string;
  /** What `inspect` calls a model of it, given its config (e.g. "CLIP image tower"). */
  title(c: ViTConfig): string;
  /** What sets the config apart, in words, for `inspect` (its own fields, say). */
  describe?(c: ViTConfig): string[];
  /**
   * The config fields it owns, absent when unused: each a check of a present value, returning what
   * is wrong with it ("must be ... , got ...") or undefined when it is good.
   */
  fields?: Record<string, (value: unknown) => string | undefined>;
  /** The tensors its fields size, [name, values], held to LIMITS.tensor_values with the others. */
  tensorSizes?(c: ViTConfig, s: ViTShape): [string, number][];
  /**
   * Graph hook: the weight block `block`'s attention adds to its scores, [heads, T, T] (the
   * attention kernels' `bias`), by name; undefined for none.
   */
  attentionBias?(c: ViTConfig, block: number): string | undefined;
  /** Its architectures at published sizes, for benchmarks (`webvit bench model --model NAME`). */
  presets?: Record<string, ViTConfig>;
  /** The Hugging Face model_type values its converter reads (checked before a Hub download). */
  hfModelTypes?: readonly string[];
}

const registered = new Map<string, FamilyModel>();
let complete = false;

/**
 * The families a config may name: "vit" (ViT and DeiT, the plain model; what an absent `family`
 * means) and every registered family. In Node all are registered at start; on a page, once a
 * family's weights have been loaded.
 */
export const MODEL_FAMILIES: readonly string[] = ['vit'];
export type ModelFamily = string;

/** Registers the families (the registry, src/model/families/index.ts, does it for all of them: `all`). */
export function registerFamilyModels(models: readonly FamilyModel[], all = false): void {
  for (const m of models) {
    if (!registered.has(m.name)) (MODEL_FAMILIES as string[]).push(m.name);
    registered.set(m.name, m);
  }
  complete ||= all;
}

/** Whether every family is registered (the registry has been loaded), so an unknown name is unknown, not just not loaded yet. */
export const allFamiliesRegistered = (): boolean => complete;

/** The registered family of `name`, or undefined. */
export const familyModel = (name: unknown): FamilyModel | undefined => (typeof name === 'string' ? registered.get(name) : undefined);

/**
 * The family model of a config: undefined for a plain ViT. A config naming a family that is not
 * registered is refused: building its graph without the family's pieces would compute another model.
 */
export function familyOf(c: ViTConfig): FamilyModel | undefined {
  if (c.family === undefined || c.family === 'vit') return undefined;
  const m = registered.get(c.family);
  if (!m) throw new WebvitError('BAD_ARGUMENT', `model family "${clip(String(c.family), 80)}" is not loaded: read its weights with loadWeights`);
  return m;
}
