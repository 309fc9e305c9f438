import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { swiglu, SWIGLU_VARIANTS, type SwigluShape, type SwigluVariant } from './op.js';

/**
 * swiglu: silu(x1) · x2 over the two halves of each row (a SwiGLU MLP's gate, DINOv2-g).
 * Tolerance: relative L2 ≤ 1e-5 against float64: one float32 exp, a division and a product per
 * output (a few ulps, ~1e-7). Halves swapped (silu(x2)·x1), a row offset off by one or the gate
 * left out are wrong by order 1.
 */
export const SWIGLU: OpDefinition<SwigluShape, SwigluVariant, 'swiglu'> = {
  name: 'swiglu',
  variants: SWIGLU_VARIANTS,
  defaultVariant: 'elementwise',
  tol: 1e-5,
  sample: ({ rows, H, scale = 2 }, r) => ({ x: randn(r, 2 * rows * H, scale) }),
  outputLength: (s) => s.rows * s.H,
  dispatch: ({ rows, H }, variant, b, { label }) => swiglu({ label, rows, H, x: b.x, out: b.out, variant }),
};
