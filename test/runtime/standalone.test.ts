import { describe, expect, it } from 'vitest';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { StandaloneDispatch, timingRepeats } from '../../src/runtime/standalone.js';
import { isCpuAdapter } from '../../src/kernels/kernel.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';

// StandaloneDispatch's `repeat` (the tuner and `bench kernels` on GPUs): the same dispatch back to
// back in one command buffer, timed as the median of the repeats after the first. Repeats must
// not change the result (each reads its inputs and writes `out` whole), and every output element
// is still written (outputs poisoned first).
describe('StandaloneDispatch repeat', () => {
  it('gives the same bits as one dispatch, and a finite positive time', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const shape = { M: 37, K: 49, N: 10, epilogue: 'residual' as const, bias: true };
    const inputs = MATMUL.sample(shape, rng(seed));
    const make = (b: Parameters<typeof MATMUL.dispatch>[2]) => MATMUL.dispatch(shape, 'tiled', b, { label: 'test.repeat', maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize });
    const outs: Float32Array[] = [];
    for (const repeat of [1, 3]) {
      const s = await StandaloneDispatch.create(device, make, { inputs, outputs: { out: shape.M * shape.N } }, { repeat });
      try {
        s.poison();
        await s.run();
        outs.push(await s.read('out'));
        const t = await s.time();
        expect(Number.isFinite(t.ms) && t.ms > 0, `repeat ${repeat}: ${t.ms} ms`).toBe(true);
      } finally {
        s.destroy();
      }
    }
    expect(outs[1], `seed ${seed}`).toEqual(outs[0]);
    expect(outs[0].every(Number.isFinite)).toBe(true);
  });

  it('refuses a repeat that is not a whole number ≥ 1; CPU adapters time one dispatch', async () => {
    const device = await testDevice();
    const make = () => MATMUL.dispatch({ M: 4, K: 4, N: 4, epilogue: 'none', bias: false }, 'tiled', {} as never, { label: 'x', maxWorkgroupStorage: 16384 });
    await expectWebvitError(() => StandaloneDispatch.create(device, make, { inputs: {}, outputs: {} }, { repeat: 0 }), 'BAD_ARGUMENT', ['repeat', '0']);
    expect(timingRepeats(device)).toBe(isCpuAdapter(device) ? 1 : 4);
  });
});
