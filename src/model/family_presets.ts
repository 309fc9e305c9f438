import { presetConfig, type ViTConfig } from './config.js';

/**
 * Other families' architectures at their published sizes, for benchmarks (`webvit bench model
 * --model clip-b16`): the image tower as its converter writes it.
 */
export const FAMILY_PRESETS = {
  /** OpenAI CLIP ViT-B/16's image tower: pre-norm, quick_gelu, eps 1e-5, projection to 512, no classifier. */
  'clip-b16': { ...presetConfig('vit_base_patch16_224'), num_classes: 0, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu', family: 'clip', pre_norm: true, projection_size: 512 },
  /** DINOv2 ViT-S/14 run at its processor's 224 crop (16 × 16 patches), features only (layer scale folded: a plain block). */
  'dinov2-s14': { ...presetConfig('vit_small_patch16_224'), patch_size: 14, num_classes: 0, family: 'dinov2' },
  /**
   * DINOv2 ViT-g/14 (facebook/dinov2-giant) at 224, features only: hidden 1536, 40 layers, 24 heads
   * of 64, the SwiGLU MLP with H = 4096 (fc1 to 8192). 1.1 billion weights (4.5 GB as float32).
   */
  'dinov2-g14': { ...presetConfig('vit_small_patch16_224'), patch_size: 14, hidden_size: 1536, num_layers: 40, num_heads: 24, mlp_size: 4096, num_classes: 0, family: 'dinov2', mlp: 'swiglu' },
  /** Google SigLIP ViT-B/16 (224)'s image tower: no class token, tanh GELU, its attention-pooling head. */
  'siglip-b16': { ...presetConfig('vit_base_patch16_224'), num_classes: 0, class_token: false, pooling: 'map', hidden_act: 'gelu_tanh', family: 'siglip' },
  /** Microsoft BEiT-B/16 (224, ImageNet-1k classifier): a relative position bias per layer, mean pooling with its layernorm. */
  'beit-b16': { ...presetConfig('vit_base_patch16_224'), layer_norm_eps: 1e-12, pooling: 'mean', fc_norm: true, family: 'beit', rel_pos_bias: 'layer' },
} satisfies Record<string, ViTConfig>;
