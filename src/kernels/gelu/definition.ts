import { elementwiseOp } from '../activation.js';
import { GELU_ACTIVATION } from './activation.js';

/**
 * gelu: the exact (erf) GELU on its own. Tolerance: relative L2 ≤ 1e-5 against float64. The
 * float32 erf carries ≤ 3.2e-7 absolute error (measured on [-6, 6]), i.e. ≤ 1.7e-7·|x| in GELU;
 * a wrong formula (tanh approximation: ~1e-3) or a wrong element fails by far.
 */
export const GELU = elementwiseOp('gelu', GELU_ACTIVATION, 1e-5);
