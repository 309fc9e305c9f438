import { elementwise, type ElementwiseArgs } from '../activation.js';
import type { Dispatch } from '../kernel.js';
import { GELU_ACTIVATION } from './activation.js';

export type { ElementwiseShape as GeluShape } from '../activation.js';

/**
 * gelu/elementwise: out = 0.5·x·(1 + erf(x/√2)), vec4 when the length allows. The model fuses
 * GELU into fc1 (matmul epilogue GELU_ACTIVATION); this stands alone for other graphs and tests.
 */
export function gelu(a: ElementwiseArgs): Dispatch {
  return elementwise('gelu', GELU_ACTIVATION, a);
}
