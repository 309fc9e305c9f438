import { WebvitError } from '../runtime/errors.js';
import { shapeOf, type ViTConfig } from './config.js';

/**
 * Explain mode's types, its limits and the rollout (src/model/explain.ts is the rest): what a page
 * needs without loading the explain kernels and plan, which ViTModel.explain imports on its first
 * call (in the browser bundle, a chunk of its own: scripts/build.mjs).
 */

export interface ExplainOptions {
  /** Images in the input; inferred from its length when omitted. */
  batch?: number;
  /** Show this layer's raw head-averaged attention (0-based) instead of the rollout. */
  layer?: number;
}

export interface AttentionExplanation {
  batch: number;
  layers: number;
  heads: number;
  grid: number;
  patchSize: number;
  /** Class/distillation tokens before the patches. */
  prefix: number;
  /** Where the rollout starts: the class token, the mean of the patch queries, or (map: SigLIP) the attention-pooling probe's attention (`probe`). */
  pooling: 'cls' | 'mean' | 'map';
  /** map only: [batch][tokens] the probe's attention over the final tokens, head-averaged (float64 sums). */
  probe?: Float32Array[];
  /** [layers][batch·heads]: mean attention distance in pixels per image and head. */
  distance: Float32Array[];
  /** [batch][grid·grid]: the rollout (or the chosen layer's attention) row, raw (not scaled to max 1), patch columns only. */
  rollout: Float32Array[];
  /** [layers]: head-averaged attention, batch·T·T each, rows = queries. */
  attention: Float32Array[];
  /** What `rollout` is, in words (rollout vs one layer; class token vs mean of patch queries). */
  source: string;
  /** [batch, num_classes] logits of the same pass (empty without a classifier). */
  logits: Float32Array;
}

/**
 * The most bytes explain mode's outputs (every layer's Ā, the distances, the logits) may take:
 * they are read back through one buffer and returned as arrays. 1 GiB, or less where the device
 * allows smaller buffers.
 */
export const EXPLAIN_MAX_BYTES = 2 ** 30;

export interface ExplainBudget {
  /** Bytes of the explain outputs at this batch (all layers' attention matrices, distances, logits). */
  bytes: number;
  /** Of which one layer's head-averaged attention matrix [B, T, T]. */
  layerBytes: number;
  /** The largest batch whose outputs fit the limit. */
  maxBatch: number;
}

/**
 * Refuses explain requests that make no sense or do not fit, before anything is allocated:
 * - BAD_INPUT: a model with a single patch (grid < 2): every distance is 0 and the map is one
 *   pixel; a batch that is not a positive integer;
 * - DEVICE_LIMITS: outputs above EXPLAIN_MAX_BYTES (or the device's largest buffer), one layer's
 *   matrix above the device's largest storage binding, or an activation the forward pass itself
 *   cannot bind at this batch; the message names the bytes needed and the batch that fits.
 * Returns the bytes the outputs take.
 */
export function explainLimits(c: ViTConfig, batch: number, limits?: Pick<GPUSupportedLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>, label = 'explain'): ExplainBudget {
  const s = shapeOf(c);
  if (s.grid < 2) {
    throw new WebvitError(
      'BAD_INPUT',
      `${label}: this model sees the image as ${s.grid * s.grid} patch (image_size ${c.image_size} / patch_size ${c.patch_size} = ${s.grid} per side): an attention map of one patch and attention distances (all 0) say nothing. Explain needs at least 2×2 patches.`,
    );
  }
  if (!Number.isInteger(batch) || batch < 1) throw new WebvitError('BAD_INPUT', `${label}: batch must be a positive integer, got ${batch}`);
  const T = s.tokens;
  const N = s.grid * s.grid;
  const L = c.num_layers;
  const perImage = 4 * (L * T * T + L * c.num_heads * N + c.num_classes);
  const bytes = batch * perImage;
  const layerBytes = 4 * batch * T * T;
  const limit = Math.min(EXPLAIN_MAX_BYTES, limits?.maxBufferSize ?? Infinity);
  const maxBatch = Math.floor(limit / perImage);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const advice = maxBatch >= 1 ? `explain at most ${maxBatch} image${maxBatch === 1 ? '' : 's'} per call` : `even one image needs ${perImage} bytes: this model is too large to explain on this device`;
  if (bytes > limit) {
    throw new WebvitError(
      'DEVICE_LIMITS',
      `${label}: explaining ${batch} images needs ${bytes} bytes (${mb(bytes)}) of attention outputs (${L} layers × ${batch} × ${T}×${T} head-averaged attention, 4 bytes each, plus distances and logits), above the limit of ${limit} bytes (${mb(limit)}); ${advice}`,
    );
  }
  const bind = limits?.maxStorageBufferBindingSize ?? Infinity;
  const biggest = 4 * batch * T * Math.max(c.mlp_size, 3 * c.hidden_size, T);
  if (biggest > bind) {
    const fit = Math.floor(bind / (4 * T * Math.max(c.mlp_size, 3 * c.hidden_size, T)));
    throw new WebvitError('DEVICE_LIMITS', `${label}: explaining ${batch} images needs a ${biggest}-byte buffer (${mb(biggest)}) but this device binds at most ${bind} bytes; explain at most ${fit} images per call`);
  }
  return { bytes, layerBytes, maxBatch };
}

export { rolloutRow } from './rollout.js';
