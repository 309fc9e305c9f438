import { presetConfig, type FamilyModel } from '../../config.js';

/** DINOv2 at run time: the shared pieces its fields switch on (pooling "cls+mean", register_tokens, mlp "swiglu"). */
export const DINOV2_MODEL: FamilyModel = {
  name: 'dinov2',
  title: (c) => `DINOv2${c.pooling === 'cls+mean' ? ', classifier on [class token ; patch mean]' : ''}`,
  presets: {
    /** DINOv2 ViT-S/14 run at its processor's 224 crop (16 × 16 patches), features only (layer scale folded: a plain block). */
    'dinov2-s14': { ...presetConfig('vit_small_patch16_224'), patch_size: 14, num_classes: 0, family: 'dinov2' },
    /**
     * DINOv2 ViT-g/14 (facebook/dinov2-giant) at 224, features only: hidden 1536, 40 layers, 24 heads
     * of 64, the SwiGLU MLP with H = 4096 (fc1 to 8192). 1.1 billion weights (4.5 GB as float32).
     */
    'dinov2-g14': { ...presetConfig('vit_small_patch16_224'), patch_size: 14, hidden_size: 1536, num_layers: 40, num_heads: 24, mlp_size: 4096, num_classes: 0, family: 'dinov2', mlp: 'swiglu' },
  },
  hfModelTypes: ['dinov2', 'dinov2_with_registers'],
};
