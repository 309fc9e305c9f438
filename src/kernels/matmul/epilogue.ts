/**
 * What a matmul does to each output after `a · w` (and the bias): nothing, exact-erf GELU (fc1),
 * or adding a residual tensor (attention projection, fc2). Its own module so that the variant
 * sources and the reference can name it without importing the op (no import cycle).
 */
export type MatmulEpilogue = 'none' | 'gelu' | 'residual';

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
