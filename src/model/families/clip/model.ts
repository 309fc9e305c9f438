import { presetConfig, type FamilyModel } from '../../config.js';

/** CLIP's image tower at run time: the shared pieces its fields switch on (pre_norm, quick_gelu, projection_size). */
export const CLIP_MODEL: FamilyModel = {
  name: 'clip',
  title: () => 'CLIP image tower',
  presets: {
    /** OpenAI CLIP ViT-B/16's image tower: pre-norm, quick_gelu, eps 1e-5, projection to 512, no classifier. */
    'clip-b16': { ...presetConfig('vit_base_patch16_224'), num_classes: 0, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu', family: 'clip', pre_norm: true, projection_size: 512 },
  },
  hfModelTypes: ['clip', 'clip_vision_model'],
};
