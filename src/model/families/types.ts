import type { Checkpoint, ConvertOptions, Planned } from '../convert/core.js';
import type { FamilyModel } from '../config.js';

/** A model family as its folder gives it to the registry (./index.ts): one object, from the folder's index.ts. */
export interface CheckpointFamily {
  /** What runs its models: config fields, tensors, graph hooks, presets (FamilyModel, src/model/config.ts). */
  model: FamilyModel;
  /** The layout name (`webvit convert --layout`), and what the notes and errors call it. */
  layout: string;
  /** For the list of supported layouts in messages. */
  describe: string;
  /** Whether a checkpoint's tensor names are this family's. */
  detect(names: string[]): boolean;
  /** The conversion planned from the checkpoint's header and config (values made later: convert/lazy.ts). */
  convert(ckpt: Checkpoint, options: ConvertOptions): Planned;
}
