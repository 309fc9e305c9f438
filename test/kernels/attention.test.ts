import { describe, expect, it } from 'vitest';
import { attention, attentionInapplicable, ATTENTION_VARIANTS, type AttentionVariant } from '../../src/kernels/attention/op.js';
import type { BufferSlice } from '../../src/runtime/shader.js';
import { attentionRef } from '../../src/kernels/attention/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64. Scores are dot products of length Dh (≤ 64)
// and the online softmax rescales by exp of differences, each within a few float32 ulps; a
// wrong head offset, mask or rescale gives errors of order 1.
const TOL = 1e-5;

const cases: [string, number, number, number, number, number][] = [
  // name, batch, T, heads, headDim, workgroup storage limit
  ['ViT-S: 197 tokens, 6 heads of 64', 1, 197, 6, 64, 16384],
  ['3 images × 50 tokens, 3 heads of 16', 3, 50, 3, 16, 16384],
  ['17 tokens, 4 heads of 16, batch 2', 2, 17, 4, 16, 16384],
  ['scalar path: head dim 6', 2, 37, 2, 6, 16384],
  ['head dim 20 (not a multiple of 16: scalar quarters of 5)', 1, 33, 3, 20, 16384],
  ['head dim 8, 1 token', 1, 1, 2, 8, 16384],
  ['small workgroup memory: key tiles of 8', 1, 70, 2, 64, 4096],
];

for (const variant of Object.keys(ATTENTION_VARIANTS) as AttentionVariant[]) describe(`attention/${variant}`, () => {
  for (const [name, batch, T, heads, headDim, wgMem] of cases) {
    it(name, async (ctx) => {
      const device = await testDevice();
      skipIfUnavailable(ctx, device, 'attention', variant);
      const make = (b: Record<string, BufferSlice>) =>
        attention({ label: 'test.attn', batch, T, heads, headDim, qkv: b.qkv, out: b.out, maxWorkgroupStorage: wgMem, variant });
      const why = attentionInapplicable(variant, headDim);
      if (why) {
        // A variant that cannot handle this head size says so instead of computing garbage.
        expect(() => make({ qkv: { buffer: {} as GPUBuffer }, out: { buffer: {} as GPUBuffer } })).toThrow(/head dim divisible by 4/);
        return;
      }
      const seed = freshSeed();
      const D = heads * headDim;
      // Spread of 2 gives peaked softmaxes (scores up to ~±20), which exercises the running max.
      const qkv = randn(rng(seed), batch * T * 3 * D, 2);
      const got = await runDispatch(device, make, { inputs: { qkv }, outputs: { out: batch * T * D } });
      const err = relL2(got.out, attentionRef(qkv, batch, T, heads, headDim));
      expectWithin(`attention/${variant} ${name}`, err, TOL, seed, got.out);
    });
  }
});
