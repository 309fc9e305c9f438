import type { Activation } from '../activation.js';

/**
 * What a matmul does to each output after `a · w` (and the bias): nothing, an activation (fc1:
 * GELU_ACTIVATION, or whichever the config names), or adding a residual tensor (attention
 * projection, fc2). Its own module so that the variant sources and the reference can name it
 * without importing the op (no import cycle).
 */
export type MatmulEpilogue = 'none' | 'residual' | Activation;

/** The activation an epilogue applies, if any. */
export const activationOf = (e: MatmulEpilogue): Activation | undefined => (typeof e === 'object' ? e : undefined);

/** The epilogue's name: 'none', 'residual' or the activation's (cache keys, test and benchmark names). */
export const epilogueName = (e: MatmulEpilogue): string => (typeof e === 'object' ? e.name : e);

/**
 * What every matmul variant's WGSL is generated from (besides the variant's own constants: tile,
 * layout), and so what its pipeline cache key covers.
 */
export interface LinearCodeParams {
  /** K % 4 == 0: A is read as vec4 along K. */
  vecA: boolean;
  /** N % 4 == 0: W, bias, residual and out are read and written as vec4 along N. */
  vecN: boolean;
  /** W holds IEEE halves, two per u32. */
  wHalf: boolean;
  bias: boolean;
  epilogue: MatmulEpilogue;
}
