import type { OpChecks } from '../definition.js';
import type { SwigluShape, SwigluVariant } from './op.js';
import { swigluRef } from './reference.js';

/** swiglu's checks (the definition: SWIGLU, ./definition.ts). */
export const SWIGLU_CHECKS: OpChecks<SwigluShape, SwigluVariant> = {
  testShapes: [
    { name: 'vec4 path, DINOv2-g/14 at 224: 257 tokens, H 4096', shape: { rows: 257, H: 4096 } },
    { name: 'scalar path, odd: 37 rows, H 13', shape: { rows: 37, H: 13, scale: 3 } },
    { name: 'scalar path, even but not a multiple of 4: 197 rows, H 6', shape: { rows: 197, H: 6 } },
    { name: 'one value: 1 row, H 1', shape: { rows: 1, H: 1 } },
    { name: 'wide range (silu\'s tails, the clamped exponent, 0 below −80): 64 rows, H 40', shape: { rows: 64, H: 40, scale: 60 } },
    { name: 'far tails: |x| to ~4e18 (products to ~1e37), 16 rows, H 5 (scalar path)', shape: { rows: 16, H: 5, scale: 1e18 } },
  ],
  reference: ({ rows, H }, x) => swigluRef(x.x, rows, H),
};
