/**
 * What a matmul does to each output after `a · w` (and the bias): nothing, exact-erf GELU (fc1),
 * or adding a residual tensor (attention projection, fc2). Its own module so that the variant
 * sources and the reference can name it without importing the op (no import cycle).
 */
export type MatmulEpilogue = 'none' | 'gelu' | 'residual';
