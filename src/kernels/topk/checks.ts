import type { OpChecks } from '../definition.js';
import type { TopKShape, TopKVariant } from './op.js';
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

/** topk's checks (the definition: TOPK, ./definition.ts). */
export const TOPK_CHECKS: OpChecks<TopKShape, TopKVariant> = {
  testShapes: cases.map(([name, rows, n, k, ties]) => ({ name, shape: { rows, n, k, ties } })),
  reference: ({ rows, n, k }, x) => topkRef(x.logits, rows, n, k),
};
