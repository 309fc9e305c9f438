import { presetConfig, type ViTConfig, type FamilyModel } from '../../config.js';
import { preview } from '../../json_preview.js';

/**
 * BEiT's config: a plain ViT's fields plus `rel_pos_bias`, a relative position bias added to every
 * attention score: "layer" (each block its own `blocks.{i}.attn.rel_pos_bias`) or "shared" (one
 * `rel_pos_bias` for all blocks), each [H, T, T], expanded from the checkpoint's table at
 * conversion (convert.ts). Absent: none.
 */
export interface BeitConfig extends ViTConfig {
  rel_pos_bias?: 'layer' | 'shared';
}

const bias = (c: ViTConfig) => (c as BeitConfig).rel_pos_bias;

/** BEiT at run time: its field, the tensors it sizes, and the score bias it gives each block's attention. */
export const BEIT_MODEL: FamilyModel = {
  name: 'beit',
  title: () => 'BEiT',
  describe: (c) => (bias(c) ? [`relative position bias (${bias(c) === 'layer' ? 'per layer' : 'shared'})`] : []),
  fields: { rel_pos_bias: (v) => (v === 'layer' || v === 'shared' ? undefined : `must be "layer" or "shared" (or absent: none), got ${preview(v)}`) },
  tensorSizes: (c, s) => (bias(c) ? [['rel_pos_bias', c.num_heads * s.tokens * s.tokens]] : []),
  attentionBias: (c, i) => (bias(c) === 'layer' ? `blocks.${i}.attn.rel_pos_bias` : bias(c) === 'shared' ? 'rel_pos_bias' : undefined),
  presets: {
    /** Microsoft BEiT-B/16 (224, ImageNet-1k classifier): a relative position bias per layer, mean pooling with its layernorm. */
    'beit-b16': { ...presetConfig('vit_base_patch16_224'), layer_norm_eps: 1e-12, pooling: 'mean', fc_norm: true, family: 'beit', rel_pos_bias: 'layer' } as BeitConfig,
  },
  hfModelTypes: ['beit'],
};
