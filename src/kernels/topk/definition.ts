import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { topk, TOPK_VARIANTS, type TopKShape, type TopKVariant } from './op.js';
import { topkRef } from './reference.js';

const cases: [string, number, number, number, boolean][] = [
  // name, rows, classes, K, ties
  ['ImageNet: 1000 classes, top 5, batch 4', 4, 1000, 5, false],
  ['1000 classes, top 1, batch 1', 1, 1000, 1, false],
  ['1000 classes, all 1000 ranked', 1, 1000, 1000, false],
  ['Fashion-MNIST: 10 classes, all 10, batch 16', 16, 10, 10, false],
  ['ties: 37 classes rounded to whole numbers, top 9, batch 5', 5, 37, 9, true],
  ['classes not a multiple of the workgroup (65), top 3, batch 33', 33, 65, 3, false],
  ['one class', 2, 1, 1, false],
];

/** topk: softmax and the K most probable classes of each image, on the GPU (classify's output). */
export const TOPK: OpDefinition<TopKShape, TopKVariant, 'topk'> = {
  name: 'topk',
  variants: TOPK_VARIANTS,
  defaultVariant: 'workgroup_row',
  // Relative L2 ≤ 1e-5 over the (index, p) pairs. Indices must be exact: one wrong index moves the
  // vector by ≥ 1 against a norm below 2·10⁴ here (≥ 5e-5). Probabilities: float32 exp and a sum
  // of ≤ 1000 terms, ~1e-7 relative; test/kernels/topk.test.ts checks them element by element.
  tol: 1e-5,
  testShapes: cases.map(([name, rows, n, k, ties]) => ({ name, shape: { rows, n, k, ties } })),
  sample: ({ rows, n, ties }, r) => {
    const logits = randn(r, rows * n, 3);
    if (ties) for (let i = 0; i < logits.length; i++) logits[i] = Math.round(logits[i]);
    return { logits };
  },
  reference: ({ rows, n, k }, x) => topkRef(x.logits, rows, n, k),
  outputLength: (s) => 2 * s.rows * s.k,
  dispatch: ({ rows, n, k }, variant, b, { label }) => topk({ label, rows, n, k, logits: b.logits, out: b.out, variant }),
};
