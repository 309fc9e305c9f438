import { describe, expect, it } from 'vitest';
import { gelu } from '../../src/kernels/gelu/op.js';
import { geluRef } from '../../src/kernels/gelu/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64. The float32 erf carries ≤ 3.2e-7 absolute error
// (measured on [-6, 6]), i.e. ≤ 1.7e-7·|x| in GELU; a wrong formula (tanh approximation: ~1e-3)
// or a wrong element fails by far.
const TOL = 1e-5;

describe('gelu (exact erf)', () => {
  for (const [name, n, scale] of [
    ['vec4 path, MLP activations of 197 tokens', 197 * 1536, 2],
    ['scalar path, odd length', 1001, 3],
    ['wide range, tails past the erf clamp', 4096, 8],
  ] as [string, number, number][]) {
    it(`${name} (n = ${n})`, async () => {
      const device = await testDevice();
      const seed = freshSeed();
      const x = randn(rng(seed), n, scale);
      const got = await runDispatch(device, (b) => gelu({ label: 'test.gelu', n, x: b.x, out: b.out }), { inputs: { x }, outputs: { out: n } });
      const err = relL2(got.out, geluRef(x));
      expectWithin(`gelu ${name}`, err, TOL, seed, got.out);
    });
  }

  it('tanh approximation would fail this tolerance (the test can tell them apart)', () => {
    const x = randn(rng(1), 4096, 2);
    const tanhGelu = x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expect(relL2(tanhGelu, geluRef(x))).toBeGreaterThan(TOL);
  });
});
