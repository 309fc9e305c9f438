import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { topk, TOPK_VARIANTS, type TopKShape, type TopKVariant } from './op.js';

/** topk: softmax and the K most probable classes of each image, on the GPU (classify's output). */
export const TOPK: OpDefinition<TopKShape, TopKVariant, 'topk'> = {
  name: 'topk',
  variants: TOPK_VARIANTS,
  defaultVariant: 'workgroup_row',
  // Relative L2 ≤ 1e-5 over the (index, p) pairs. Indices must be exact: one wrong index moves the
  // vector by ≥ 1 against a norm below 2·10⁴ here (≥ 5e-5). Probabilities: float32 exp and a sum
  // of ≤ 1000 terms, ~1e-7 relative; test/kernels/topk.test.ts checks them element by element.
  tol: 1e-5,
  sample: ({ rows, n, ties }, r) => {
    const logits = randn(r, rows * n, 3);
    if (ties) for (let i = 0; i < logits.length; i++) logits[i] = Math.round(logits[i]);
    return { logits };
  },
  outputLength: (s) => 2 * s.rows * s.k,
  dispatch: ({ rows, n, k }, variant, b, { label }) => topk({ label, rows, n, k, logits: b.logits, out: b.out, variant }),
};
