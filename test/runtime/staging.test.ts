import { describe, expect, it } from 'vitest';
import { gelu } from '../../src/kernels/gelu/op.js';
import { geluRef } from '../../src/kernels/gelu/reference.js';
import { liveBuffers } from '../../src/runtime/buffers.js';
import { Plan, STAGING_PER_INPUT } from '../../src/runtime/plan.js';
import { relL2 } from '../helpers/compare.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Plan.stage: CPU bytes copied at call time into a mapped staging buffer of the plan (one copy
// instead of a copy plus writeBuffer's), copied to the input tensor by the run, the buffer mapped
// again after the run's submit. At most STAGING_PER_INPUT per input; when all are held by queued
// runs stage() says so (undefined) and the caller copies instead. Results compared with float64
// GELU at 1e-5 (gelu's own tolerance); staged and written inputs must give the same bits.
const N = 1000; // not a multiple of 16: the staging buffer has the tensor's exact size
/** stage() once a staging buffer is mapped again: the map resolves on a later device tick, so poll (2 s at most). */
async function stageSoon(plan: Plan, x: Float32Array) {
  for (let t = 0; t < 400; t++) {
    const s = plan.stage('x', x);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}
const dispatch = () => gelu({ label: 'test.stage', n: N, x: { tensor: 'x', bytes: 4 * N }, out: { tensor: 'y', bytes: 4 * N } });

describe('Plan.stage', () => {
  it('staged inputs give the same results as written ones, through more calls than staging buffers', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const rand = rng(seed);
    const before = liveBuffers(device);
    const plan = await Plan.compile(device, 'test.stage', [dispatch()], { inputs: ['x'], outputs: ['y'] });
    const base = liveBuffers(device).buffers;
    try {
      const xs = Array.from({ length: 5 }, () => randn(rand, N, 2));
      const written: Float32Array[] = [];
      for (const x of xs) written.push((await plan.run({ x })).y);
      const buf = new Float32Array(N);
      const runs = [];
      let staged = 0;
      for (const x of xs) {
        buf.set(x);
        const s = plan.stage('x', buf);
        if (s) staged++;
        runs.push(plan.run({ x: s ?? buf.slice() }));
        buf.fill(Number.NaN);
      }
      // All five were staged before any run could finish: two buffers, then copies.
      expect(staged, 'calls staged while both buffers were held').toBe(STAGING_PER_INPUT);
      expect(liveBuffers(device).buffers - base).toBe(STAGING_PER_INPUT);
      const got = await Promise.all(runs);
      got.forEach((r, i) => {
        expect(r.y, `seed ${seed}: call ${i}`).toEqual(written[i]);
        expect(relL2(r.y, geluRef(xs[i])), `seed ${seed}`).toBeLessThanOrEqual(1e-5);
      });
      // Once the runs are done the buffers are mapped again and reused; no new ones are made.
      for (let i = 0; i < 3; i++) {
        const s = await stageSoon(plan, xs[i]);
        expect(s, 'a staging buffer free again after the runs').toBeDefined();
        expect((await plan.run({ x: s! })).y).toEqual(written[i]);
      }
      expect(liveBuffers(device).buffers - base).toBe(STAGING_PER_INPUT);
    } finally {
      await plan.destroy();
    }
    expect(liveBuffers(device)).toEqual(before);
    expect(plan.stage('x', new Float32Array(N)), 'a destroyed plan stages nothing').toBeUndefined();
  });

  it('refuses the wrong input and the wrong size; a refused run frees its staging buffer', async () => {
    const device = await testDevice();
    const plan = await Plan.compile(device, 'test.stage.bad', [dispatch()], { inputs: ['x'], outputs: ['y'] });
    try {
      await expectWebvitError(() => plan.stage('y', new Float32Array(N)), 'BAD_ARGUMENT', ['y is not an input', 'inputs: x']);
      await expectWebvitError(() => plan.stage('x', new Float32Array(N + 1)), 'BAD_INPUT', [`${4 * (N + 1)} bytes`, `expected ${4 * N}`]);
      // A run refused before it starts (an unknown output) still gives its staging buffer back.
      for (let i = 0; i < 2 * STAGING_PER_INPUT; i++) {
        const s = await stageSoon(plan, new Float32Array(N));
        expect(s, `stage ${i}`).toBeDefined();
        await expectWebvitError(() => plan.run({ x: s! }, { outputs: ['nope'] }), 'BAD_ARGUMENT', ['nope is not an output']);
      }
      // An input staged on another plan is refused, naming both.
      const other = await Plan.compile(device, 'test.stage.other', [dispatch()], { inputs: ['x'], outputs: ['y'] });
      try {
        const s = other.stage('x', new Float32Array(N))!;
        await expectWebvitError(() => plan.run({ x: s }), 'BAD_ARGUMENT', ['staged on plan test.stage.other']);
      } finally {
        await other.destroy();
      }
    } finally {
      await plan.destroy();
    }
  });
});
