import { elementwiseOp } from '../activation.js';
import { GELU_TANH_ACTIVATION } from './activation.js';

/**
 * gelu_tanh on its own (the model fuses it into fc1's epilogue when a config names it).
 * Tolerance: relative L2 ≤ 1e-5 against float64: a cube, one float32 exp and one division per
 * element (a few ulps, ~1e-7). The exact (erf) GELU in its place differs by up to ~5e-4 near
 * |x| ≈ 2 (relative L2 ~1e-4 over the test range), so a swap of the two fails.
 */
export const GELU_TANH = elementwiseOp('gelu_tanh', GELU_TANH_ACTIVATION, 1e-5);
