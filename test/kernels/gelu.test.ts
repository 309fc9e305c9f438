import { describe, expect, it } from 'vitest';
import { GELU } from '../../src/kernels/gelu/definition.js';
import { geluRef } from '../../src/kernels/gelu/reference.js';
import { relL2 } from '../helpers/compare.js';
import { randn, rng } from '../helpers/random.js';

// gelu's shapes run with every other op in ops.test.ts; this checks that its tolerance can tell
// the exact GELU from the tanh approximation.
describe('gelu (exact erf)', () => {
  it('tanh approximation would fail this tolerance (the test can tell them apart)', () => {
    const x = randn(rng(1), 4096, 2);
    const tanhGelu = x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expect(relL2(tanhGelu, geluRef(x))).toBeGreaterThan(GELU.tol);
  });
});
