import { describe, expect, it } from 'vitest';
import { ATTENTION_EXPLAIN } from '../../src/kernels/attention_explain/definition.js';
import { ATTENTION_EXPLAIN_CHECKS } from '../../src/kernels/attention_explain/checks.js';
import { attentionExplain } from '../../src/kernels/attention_explain/op.js';
import { attentionDistanceRef } from '../../src/kernels/attention_explain/reference.js';
import { attentionRef } from '../../src/kernels/attention/reference.js';
import { attention } from '../../src/kernels/attention/op.js';
import { WebvitError } from '../../src/errors.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { variantNames } from '../../src/kernels/definition.js';
import { freshSeed, rng } from '../helpers/random.js';

// attention_explain writes two outputs; test/kernels/ops.test.ts checks its distances (`out` of
// the definition). Here both, each poisoned with NaN before the run: the attention output against
// attentionRef within attention's own 1e-5, the distances against attentionDistanceRef within the
// op's 1e-5, on every test shape of the definition.
describe('attention_explain: attention output and distances, both poisoned', () => {
  for (const variant of variantNames(ATTENTION_EXPLAIN)) for (const c of ATTENTION_EXPLAIN_CHECKS.testShapes) {
    it(`${variant}: ${c.name}`, async (t) => {
      const s = c.shape;
      if (ATTENTION_EXPLAIN.variants[variant].inapplicable?.(s)) return; // ops.test.ts checks the refusal
      const device = await testDevice();
      skipIfUnavailable(t, device, ATTENTION_EXPLAIN, variant);
      const seed = freshSeed();
      const { qkv, bias } = ATTENTION_EXPLAIN.sample(s, rng(seed));
      const got = await runDispatch(
        device,
        (b) => attentionExplain({ label: 'test', ...s, qkv: b.qkv, out: b.att, dist: b.dist, bias: s.bias ? b.bias : undefined, maxWorkgroupStorage: s.maxWorkgroupStorage ?? device.limits.maxComputeWorkgroupStorageSize, variant }),
        { inputs: { qkv, ...(bias ? { bias } : {}) }, outputs: { att: s.batch * s.T * s.heads * s.headDim, dist: s.batch * s.heads * s.grid * s.grid } },
      );
      expectWithin(`attention_explain/${variant} ${c.name}: attention output`, relL2(got.att, attentionRef(qkv, s.batch, s.T, s.heads, s.headDim, bias)), 1e-5, seed, got.att);
      expectWithin(`attention_explain/${variant} ${c.name}: distances`, relL2(got.dist, attentionDistanceRef(qkv, s.batch, s.T, s.heads, s.headDim, s.prefix, s.grid, s.patchSize, bias)), 1e-5, seed, got.dist);
    });
  }

  it('uniform attention (all queries zero) gives the mean distance to the patch centres over all T keys, by hand', async () => {
    // 2×2 grid, class token, patch 10 px: T = 5, every weight 1/5. Patch 0 (top left) is 0, 10, 10
    // and 10√2 px from the four patch centres; the class token counts as 0 (not renormalised).
    // By symmetry every patch query gets (20 + 10√2) / 5.
    const device = await testDevice();
    const [T, H, Dh] = [5, 1, 4];
    const qkv = new Float32Array(T * 3 * H * Dh);
    for (let t = 0; t < T; t++) for (let k = 0; k < Dh; k++) qkv[t * 3 * Dh + Dh + k] = t + k; // keys differ, queries are 0
    const got = await runDispatch(device, (b) => attentionExplain({ label: 'test.uniform', batch: 1, T, heads: H, headDim: Dh, prefix: 1, grid: 2, patchSize: 10, qkv: b.qkv, out: b.att, dist: b.dist, maxWorkgroupStorage: 16384 }), {
      inputs: { qkv },
      outputs: { att: T * H * Dh, dist: 4 },
    });
    for (const d of got.dist) expect(d).toBeCloseTo((20 + 10 * Math.SQRT2) / 5, 5);
  });

  for (const variant of variantNames(ATTENTION_EXPLAIN)) {
    it(`${variant}: its attention output is what attention/${variant} computes, to float32 rounding`, async (t) => {
      const device = await testDevice();
      skipIfUnavailable(t, device, ATTENTION_EXPLAIN, variant);
      const s = { batch: 2, T: 50, heads: 3, headDim: 16, prefix: 1, grid: 7, patchSize: 4 };
      const seed = freshSeed();
      const { qkv } = ATTENTION_EXPLAIN.sample(s, rng(seed));
      const io = { inputs: { qkv }, outputs: { out: s.batch * s.T * s.heads * s.headDim } };
      const plain = await runDispatch(device, (b) => attention({ label: 'test.plain', ...s, qkv: b.qkv, out: b.out, maxWorkgroupStorage: 16384, variant }), io);
      const ex = await runDispatch(device, (b) => attentionExplain({ label: 'test.explain', ...s, qkv: b.qkv, out: b.out, dist: b.dist, maxWorkgroupStorage: 16384, variant }), {
        ...io,
        outputs: { ...io.outputs, dist: s.batch * s.heads * 49 },
      });
      // Same operations in the same order for the output (equal bits on lavapipe, 2026-11); a
      // driver may contract multiply-adds differently in the two shaders, hence 1e-6, not equality.
      expectWithin(`attention_explain/${variant} vs attention/${variant}`, relL2(ex.out, plain.out), 1e-6, seed, ex.out);
    });
  }

  it('refuses a token count that is not prefix + grid²', () => {
    const slice = { buffer: {} as GPUBuffer };
    const args = { label: 'blocks.0.attn', batch: 1, T: 50, heads: 2, headDim: 8, prefix: 2, grid: 7, patchSize: 16, qkv: slice, out: slice, dist: slice, maxWorkgroupStorage: 16384 };
    expect(() => attentionExplain(args)).toThrow(WebvitError);
    expect(() => attentionExplain(args)).toThrow(/T = prefix \+ grid², got T 50, prefix 2, grid 7/);
  });
});
