import { shapeOf, MLP_ACTIVATIONS } from '../../src/model/config.js';
import type { LoadedWeights } from '../../src/model/weights.js';
import { patchEmbedRef } from '../../src/kernels/patch_embed/reference.js';
import { layerNormRef } from '../../src/kernels/layernorm/reference.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';

/**
 * The whole explain computation in float64, from the definitions (docs/explain.md), written
 * independently of src/model/explain.ts and of the explain kernels' references: a float64 ViT
 * forward pass (the kernels' float64 references for patch embedding, layernorm and the linear
 * layers), every head's attention matrix formed in full, distances from the patch centres in
 * pixels, and the rollout as the full matrix product R_{L−1}·…·R_0. Slow (T³ per layer); for small
 * models only.
 */
export interface ExplainRef {
  /** [L][B·H] mean attention distance, pixels. */
  distance: Float64Array[];
  /** [L][B·T·T] head-averaged attention. */
  attention: Float64Array[];
  /** [B][N] rollout row (class token or mean of patch rows), patch columns. */
  rollout: Float64Array[];
  /** [layer][B][N] that layer's head-averaged attention row, same selection. */
  layerRows: Float64Array[][];
  /** [B·classes] logits (class-token pooling: LN(x[b, 0])·head + b); absent for other poolings. */
  logits?: Float64Array;
}

/** `tensors` replaces w.tensors (e.g. dequantised weights, in float64). */
export function explainReference(w: LoadedWeights, input: Float32Array, B: number, tensors: ReadonlyMap<string, ArrayLike<number>> = w.tensors): ExplainRef {
  const c = w.config;
  const s = shapeOf(c);
  const t = (name: string): ArrayLike<number> => {
    const x = tensors.get(name);
    if (!x) throw new Error(`reference: no tensor ${name}`);
    return x;
  };
  const D = c.hidden_size;
  const H = c.num_heads;
  const Dh = D / H;
  const T = s.tokens;
  const P = s.prefixTokens;
  const G = s.grid;
  const N = G * G;
  const M = B * T;
  const prefix = [...(c.class_token ? [t('cls_token')] : []), ...(c.distilled ? [t('dist_token')] : [])];
  let x = patchEmbedRef(input, t('patch_embed.weight'), t('patch_embed.bias'), prefix, t('pos_embed'), B, c.num_channels, c.image_size, c.patch_size, D);
  const act = MLP_ACTIVATIONS[c.hidden_act ?? 'gelu'].activation;
  // Patch centres in pixels: token P + n at grid (n / G, n % G), centre ((col + 0.5)·p, (row + 0.5)·p).
  const centre = (n: number): [number, number] => [(Math.floor(n / G) + 0.5) * c.patch_size, ((n % G) + 0.5) * c.patch_size];
  const distance: Float64Array[] = [];
  const attention: Float64Array[] = [];
  for (let l = 0; l < c.num_layers; l++) {
    const p = `blocks.${l}`;
    const h = layerNormRef(x, t(`${p}.norm1.weight`), t(`${p}.norm1.bias`), M, D, c.layer_norm_eps);
    const qkv = linearRef(h, t(`${p}.attn.qkv.weight`), c.qkv_bias ? t(`${p}.attn.qkv.bias`) : undefined, undefined, M, D, 3 * D, 'none');
    const mean = new Float64Array(B * T * T);
    const dist = new Float64Array(B * H);
    const att = new Float64Array(M * D);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < H; hd++) {
        // A [T, T] of this head
        const A = new Float64Array(T * T);
        for (let i = 0; i < T; i++) {
          let max = -Infinity;
          for (let j = 0; j < T; j++) {
            let d = 0;
            for (let k = 0; k < Dh; k++) d += qkv[(b * T + i) * 3 * D + hd * Dh + k] * qkv[(b * T + j) * 3 * D + D + hd * Dh + k];
            A[i * T + j] = d / Math.sqrt(Dh);
            max = Math.max(max, A[i * T + j]);
          }
          let sum = 0;
          for (let j = 0; j < T; j++) sum += A[i * T + j] = Math.exp(A[i * T + j] - max);
          for (let j = 0; j < T; j++) A[i * T + j] /= sum;
        }
        for (let i = 0; i < T * T; i++) mean[b * T * T + i] += A[i] / H;
        let dsum = 0;
        for (let n = 0; n < N; n++) {
          const [yi, xi] = centre(n);
          for (let m = 0; m < N; m++) {
            const [yj, xj] = centre(m);
            dsum += A[(P + n) * T + P + m] * Math.hypot(yi - yj, xi - xj);
          }
        }
        dist[b * H + hd] = dsum / N;
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) {
            const a = A[i * T + j];
            for (let k = 0; k < Dh; k++) att[(b * T + i) * D + hd * Dh + k] += a * qkv[(b * T + j) * 3 * D + 2 * D + hd * Dh + k];
          }
        }
      }
    }
    distance.push(dist);
    attention.push(mean);
    const x1 = linearRef(att, t(`${p}.attn.proj.weight`), t(`${p}.attn.proj.bias`), x, M, D, D, 'residual');
    const h2 = layerNormRef(x1, t(`${p}.norm2.weight`), t(`${p}.norm2.bias`), M, D, c.layer_norm_eps);
    const u = linearRef(h2, t(`${p}.mlp.fc1.weight`), t(`${p}.mlp.fc1.bias`), undefined, M, D, c.mlp_size, act);
    x = linearRef(u, t(`${p}.mlp.fc2.weight`), t(`${p}.mlp.fc2.bias`), x1, M, c.mlp_size, D, 'residual');
  }
  // The row that is shown: class token (cls pooling) or the mean of the patch rows (mean pooling).
  const select = (R: Float64Array, b: number): Float64Array => {
    const row = new Float64Array(N);
    const rows = c.pooling === 'cls' ? [0] : Array.from({ length: N }, (_, n) => P + n);
    for (const i of rows) for (let m = 0; m < N; m++) row[m] += R[b * T * T + i * T + P + m] / rows.length;
    return row;
  };
  const rollout: Float64Array[] = [];
  for (let b = 0; b < B; b++) {
    // Rollout = R_{L−1}·…·R_0 with R_l = norm_rows(0.5·Ā[l] + 0.5·I), as full T×T products.
    let prod: Float64Array | undefined;
    for (let l = 0; l < c.num_layers; l++) {
      const R = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) sum += R[i * T + j] = 0.5 * attention[l][b * T * T + i * T + j] + (i === j ? 0.5 : 0);
        for (let j = 0; j < T; j++) R[i * T + j] /= sum;
      }
      if (!prod) prod = R;
      else {
        const next = new Float64Array(T * T);
        for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) for (let j = 0; j < T; j++) next[i * T + j] += R[i * T + k] * prod[k * T + j];
        prod = next;
      }
    }
    rollout.push(select(prod!, 0));
  }
  const layerRows = attention.map((A) => Array.from({ length: B }, (_, b) => select(A.subarray(b * T * T, (b + 1) * T * T), 0)));
  let logits: Float64Array | undefined;
  if (c.pooling === 'cls' && c.num_classes > 0) {
    const cls = new Float64Array(B * D);
    for (let b = 0; b < B; b++) for (let k = 0; k < D; k++) cls[b * D + k] = x[b * T * D + k];
    const f = layerNormRef(cls, t('norm.weight'), t('norm.bias'), B, D, c.layer_norm_eps);
    logits = linearRef(f, t('head.weight'), t('head.bias'), undefined, B, D, c.num_classes, 'none');
  }
  return { distance, attention, rollout, layerRows, logits };
}

/** max |got − want| / max |want|. */
export function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
}
