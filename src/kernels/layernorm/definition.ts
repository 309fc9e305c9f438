import type { OpDefinition } from '../definition.js';
import { isCpuAdapter, unavailableReason } from '../kernel.js';
import { randn } from '../sample.js';
import { layerNorm, LAYERNORM_VARIANTS, type LayerNormShape, type LayerNormVariant } from './op.js';

/** layernorm: every norm of the model (per block, and the final one). */
export const LAYERNORM: OpDefinition<LayerNormShape, LayerNormVariant, 'layernorm'> = {
  name: 'layernorm',
  variants: LAYERNORM_VARIANTS,
  defaultVariant: 'workgroup_row',
  // Relative L2 ≤ 1e-5 against float64. Two-pass statistics on values shifted by the row's first
  // element keep every step near float32 rounding (~1e-7), including rows with a large mean and a
  // tiny spread, where a one-pass E[x²]−E[x]² kernel is off by 10⁻² or worse.
  tol: 1e-5,
  sample: ({ rows, D, mean = 0, spread = 1 }, r) => ({ x: randn(r, rows * D, spread, mean), gamma: randn(r, D, 0.2, 1), beta: randn(r, D, 0.2) }),
  outputLength: (s) => s.rows * s.D,
  dispatch: ({ rows, D, eps }, variant, b, { label }) => layerNorm({ label, rows, D, eps, x: b.x, gamma: b.gamma, beta: b.beta, out: b.out, variant }),
  tuning: {
    // One variant for all norms, chosen on the first (a block's norm1: batch × tokens rows).
    per: 'graph',
    problem: ({ rows, D }) => ({ rows, D, eps: 1e-6 }),
    key: (s) => `${s.rows}x${s.D}`,
    timed: (p, maxRows) => ({ ...p, rows: Math.min(p.rows, maxRows) }),
    // CPU adapters: subgroup (1.2–3.5× faster on lavapipe, BENCHMARKS.md); GPUs: workgroup_row.
    preferred: (device) => (isCpuAdapter(device) && unavailableReason(device, LAYERNORM_VARIANTS.subgroup) === undefined ? 'subgroup' : 'workgroup_row'),
  },
};
