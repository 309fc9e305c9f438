import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { gelu, GELU_VARIANTS, type GeluShape, type GeluVariant } from './op.js';
import { geluRef } from './reference.js';

/** gelu: the exact (erf) GELU on its own. The model fuses it into fc1's epilogue (matmul). */
export const GELU: OpDefinition<GeluShape, GeluVariant, 'gelu'> = {
  name: 'gelu',
  variants: GELU_VARIANTS,
  defaultVariant: 'elementwise',
  // Relative L2 ≤ 1e-5 against float64. The float32 erf carries ≤ 3.2e-7 absolute error
  // (measured on [-6, 6]), i.e. ≤ 1.7e-7·|x| in GELU; a wrong formula (tanh approximation:
  // ~1e-3) or a wrong element fails by far.
  tol: 1e-5,
  testShapes: [
    { name: 'vec4 path, MLP activations of 197 tokens (n = 302592)', shape: { n: 197 * 1536, scale: 2 } },
    { name: 'scalar path, odd length (n = 1001)', shape: { n: 1001, scale: 3 } },
    { name: 'wide range, tails past the erf clamp (n = 4096)', shape: { n: 4096, scale: 8 } },
  ],
  sample: ({ n, scale = 2 }, r) => ({ x: randn(r, n, scale) }),
  reference: (_, x) => geluRef(x.x),
  outputLength: (s) => s.n,
  dispatch: ({ n }, variant, b, { label }) => gelu({ label, n, x: b.x, out: b.out, variant }),
};
