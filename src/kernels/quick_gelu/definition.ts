import { elementwiseOp } from '../activation.js';
import { QUICK_GELU_ACTIVATION } from './activation.js';

/**
 * quick_gelu on its own (the model fuses it into fc1's epilogue when a config names it).
 * Tolerance: relative L2 ≤ 1e-5 against float64: one float32 exp and one division per element
 * (a few ulps, ~1e-7); the exact GELU in its place differs by ~1e-2.
 */
export const QUICK_GELU = elementwiseOp('quick_gelu', QUICK_GELU_ACTIVATION, 1e-5);
