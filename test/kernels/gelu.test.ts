import { describe, expect, it } from 'vitest';
import { GELU } from '../../src/kernels/gelu/definition.js';
import { geluRef } from '../../src/kernels/gelu/reference.js';
import { GELU_ACTIVATION } from '../../src/kernels/gelu/activation.js';
import { QUICK_GELU } from '../../src/kernels/quick_gelu/definition.js';
import { QUICK_GELU_ACTIVATION } from '../../src/kernels/quick_gelu/activation.js';
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

describe('quick_gelu', () => {
  it('the exact GELU in its place would fail its tolerance (and the reverse)', () => {
    const x = randn(rng(2), 4096, 2);
    const exact = Float64Array.from(x, GELU_ACTIVATION.ref64);
    const quick = Float64Array.from(x, QUICK_GELU_ACTIVATION.ref64);
    expect(relL2(exact, quick)).toBeGreaterThan(100 * QUICK_GELU.tol);
    // x·sigmoid(1.702x) at a few points, from its definition.
    expect(QUICK_GELU_ACTIVATION.ref64(1)).toBeCloseTo(1 / (1 + Math.exp(-1.702)), 15);
    expect(QUICK_GELU_ACTIVATION.ref64(-3)).toBeCloseTo(-3 / (1 + Math.exp(5.106)), 15);
  });
});
