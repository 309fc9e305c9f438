import { shapeOf, type ViTConfig } from './config.js';

/**
 * FLOPs of one image's forward pass, from the config: the matrix products only (a multiply-add
 * counts 2), which is all but a fraction of a percent of the work (layernorms, softmax, GELU and
 * the residual adds are O(T·D) each). T = tokens, N = patches, K = C·P², D = hidden, F = MLP.
 */
export function flopsPerImage(c: ViTConfig): { total: number; parts: Record<string, number> } {
  const s = shapeOf(c);
  const T = s.tokens;
  const N = s.grid * s.grid;
  const D = c.hidden_size;
  const L = c.num_layers;
  const parts: Record<string, number> = {
    patch_embed: 2 * N * s.patchInner * D,
    qkv: L * 2 * T * D * 3 * D,
    attention_qk: L * 2 * T * T * D, // every head: T × T scores of head_dim each
    attention_pv: L * 2 * T * T * D,
    proj: L * 2 * T * D * D,
    mlp: L * 2 * (c.mlp ? 3 : 2) * T * D * c.mlp_size, // SwiGLU: fc1 is 2F wide
    head: 2 * s.featureSize * c.num_classes,
  };
  if (c.projection_size) parts.projection = 2 * s.pooledSize * c.projection_size;
  if (c.pooling === 'cls+mean') parts.head *= 2; // the head reads the class token and the patch mean
  // SigLIP's attention-pooling head: keys and values of every token, one query per head, projection, MLP.
  if (c.pooling === 'map') parts.pool_head = 2 * T * D * 2 * D + 4 * T * D + 2 * D * D + 2 * 2 * D * c.mlp_size;
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}
