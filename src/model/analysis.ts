import { WebvitError } from '../runtime/errors.js';
import { shapeOf, type ViTConfig } from './config.js';
import { symmetricEigen } from './symmetric_eigen.js';
import { dequantize, type QuantizedMatrix } from '../kernels/matmul/quant.js';

/**
 * The two model-only analyses of the ViT paper's section 4.5 (Fig. 7 left and centre), computed
 * from the weights alone, in float64 on the CPU. They need the weights as numbers: a ViTModel
 * keeps only GPU buffers, so they take what readWeights returns (LoadedWeights) or anything with
 * its `config` and `tensors`. Definitions: docs/explain.md.
 */
export interface ModelWeights {
  config: ViTConfig;
  tensors: Map<string, Float32Array>;
  /** A quantised file's matmul weights (LoadedWeights.quant): read as code · scale. */
  quant?: Map<string, QuantizedMatrix>;
}

export interface PositionSimilarity {
  /** Patches per side G. */
  grid: number;
  /** [N·N], N = G·G: cosine similarity of patch i's position embedding with patch j's, row i. */
  similarity: Float32Array;
}

export interface FilterComponents {
  patchSize: number;
  channels: number;
  /** k unit vectors of C·p·p values each, element order (channel, row, col); largest-|x| element positive. */
  components: Float32Array[];
  /** Eigenvalue of each component over the sum of all eigenvalues (the share of the filters' variance it explains). */
  varianceRatio: number[];
}

function tensor(w: ModelWeights, name: string, length: number): Float32Array {
  const q = w.quant?.get(name);
  // A quantised weight as the model computes with it (code · scale, rounded to float32).
  const t = w.tensors.get(name) ?? (q && Float32Array.from(dequantize(q)));
  if (!t) throw new WebvitError('BAD_WEIGHTS', `${name} is missing from the weights; the analyses need the model's tensors as readWeights returns them`);
  if (t.length !== length) throw new WebvitError('BAD_WEIGHTS', `${name} has ${t.length} values, the config calls for ${length}`);
  return t;
}

/**
 * Cosine similarity between the position embeddings of every pair of patch tokens (class and
 * distillation token rows dropped): S[i, j] = E_i·E_j / (‖E_i‖ ‖E_j‖), [N, N]. A row of zeros (a
 * position the model never learned anything for) has similarity 0 with every row, itself included.
 */
/** Weights as readWeights gives them, or a BAD_ARGUMENT naming the function. */
function checkWeights(w: ModelWeights, where: string): void {
  if (typeof w !== 'object' || w === null || typeof w.config !== 'object' || w.config === null || !(w.tensors instanceof Map)) {
    throw new WebvitError('BAD_ARGUMENT', `${where}: expected a model's weights as readWeights or readWeightFile gives them ({ config, tensors: Map }), got ${w === null ? 'null' : typeof w}`);
  }
}

export function positionSimilarity(weights: ModelWeights): PositionSimilarity {
  checkWeights(weights, 'positionSimilarity');
  const c = weights.config;
  const s = shapeOf(c);
  const D = c.hidden_size;
  const N = s.grid * s.grid;
  const pos = tensor(weights, 'pos_embed', s.tokens * D); // [P + N, D]
  const unit = new Float64Array(N * D); // patch rows, each divided by its norm (0 stays 0)
  for (let i = 0; i < N; i++) {
    const row = (s.prefixTokens + i) * D;
    let norm = 0;
    for (let k = 0; k < D; k++) norm += pos[row + k] * pos[row + k];
    norm = Math.sqrt(norm);
    if (norm > 0) for (let k = 0; k < D; k++) unit[i * D + k] = pos[row + k] / norm;
  }
  const similarity = new Float32Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = i; j < N; j++) {
      let dot = 0;
      for (let k = 0; k < D; k++) dot += unit[i * D + k] * unit[j * D + k];
      similarity[i * N + j] = similarity[j * N + i] = dot;
    }
  }
  return { grid: s.grid, similarity };
}

/**
 * The top principal components of the patch-embedding filters. patch_embed.weight is [C·p·p, D]:
 * D filters (its columns) of C·p·p values, in (channel, row, col) order. The filters are centred
 * (their mean filter subtracted) and their C·p·p × C·p·p covariance decomposed in float64; the
 * components are its top k = min(k, C·p·p, D) eigenvectors. Each sign is fixed so that its largest
 * |value| is positive (the first such element on a tie), so that results can be compared.
 */
export function patchFilterComponents(weights: ModelWeights, k = 28): FilterComponents {
  checkWeights(weights, 'patchFilterComponents');
  if (!Number.isInteger(k) || k < 1) throw new WebvitError('BAD_ARGUMENT', `patchFilterComponents: k must be a positive integer, got ${k}`);
  const c = weights.config;
  const M = shapeOf(c).patchInner; // C·p·p
  const D = c.hidden_size;
  const w = tensor(weights, 'patch_embed.weight', M * D); // [M, D]: row m, filter d at w[m·D + d]
  // Centred filters, X [M, D]: each row m minus its mean over the D filters.
  const X = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += w[m * D + d];
    mean /= D;
    for (let d = 0; d < D; d++) X[m * D + d] = w[m * D + d] - mean;
  }
  // Covariance [M, M] = X·Xᵀ / D (lower triangle; the solver mirrors it).
  const cov = new Float64Array(M * M);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let d = 0; d < D; d++) sum += X[i * D + d] * X[j * D + d];
      cov[i * M + j] = sum / D;
    }
  }
  const { values, vectors } = symmetricEigen(cov, M);
  // Rounding leaves the null space's eigenvalues at ±1e-17 or so: they count as 0.
  let total = 0;
  for (const v of values) total += Math.max(v, 0);
  const count = Math.min(k, M, D);
  const components: Float32Array[] = [];
  const varianceRatio: number[] = [];
  for (let j = 0; j < count; j++) {
    const v = vectors[j];
    let at = 0;
    for (let i = 1; i < M; i++) if (Math.abs(v[i]) > Math.abs(v[at])) at = i;
    const sign = v[at] < 0 ? -1 : 1;
    components.push(Float32Array.from(v, (x) => sign * x));
    varianceRatio.push(total > 0 ? Math.max(values[j], 0) / total : 0);
  }
  return { patchSize: c.patch_size, channels: c.num_channels, components, varianceRatio };
}
