import type { OpChecks } from '../definition.js';
import { CHUNK, type FiniteCheckShape, type FiniteCheckVariant } from './op.js';
import { finiteCheckRef } from './reference.js';

/** finite_check's checks (the definition: FINITE_CHECK, ./definition.ts). */
export const FINITE_CHECK_CHECKS: OpChecks<FiniteCheckShape, FiniteCheckVariant> = {
  testShapes: [
    { name: 'batch 1, 3×224×224', shape: { batch: 1, values: 3 * 224 * 224 } },
    { name: 'batch 5, 3×32×32 (part of a chunk)', shape: { batch: 5, values: 3 * 32 * 32 } },
    { name: 'batch 7, 1×7×7 (49 values)', shape: { batch: 7, values: 49 } },
    { name: `batch 4, 2 chunks + 9 values`, shape: { batch: 4, values: 2 * CHUNK + 9 } },
    { name: 'batch 3, exactly 3 chunks', shape: { batch: 3, values: 3 * CHUNK } },
  ],
  reference: ({ batch, values }, inputs) => finiteCheckRef(inputs.x, batch, values),
};
