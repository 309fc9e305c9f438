import { presetConfig, type FamilyModel } from '../../config.js';

/** SigLIP's image tower at run time: the shared pieces its fields switch on (pooling "map", gelu_tanh, no class token). */
export const SIGLIP_MODEL: FamilyModel = {
  name: 'siglip',
  title: (c) => `SigLIP image tower${c.pooling === 'map' ? ', attention-pooling head' : ', classifier on the token mean'}`,
  presets: {
    /** Google SigLIP ViT-B/16 (224)'s image tower: no class token, tanh GELU, its attention-pooling head. */
    'siglip-b16': { ...presetConfig('vit_base_patch16_224'), num_classes: 0, class_token: false, pooling: 'map', hidden_act: 'gelu_tanh', family: 'siglip' },
  },
  hfModelTypes: ['siglip', 'siglip_vision_model'],
};
