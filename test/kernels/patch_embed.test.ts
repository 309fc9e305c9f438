import { describe, it } from 'vitest';
import { patchEmbed } from '../../src/kernels/patch_embed/op.js';
import { patchEmbedRef } from '../../src/kernels/patch_embed/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64: dot products of length C·P·P ≤ 768 in float32.
const TOL = 1e-5;

const cases: [string, number, number, number, number, number][] = [
  // name, batch, channels, image, patch, D
  ['ViT/16 at 224: 197 tokens (vec4 pixel loads)', 1, 3, 224, 16, 96],
  ['grey 28 px, patch 7: K = 49, 50 tokens, batch 3 (scalar loads)', 3, 1, 28, 7, 48],
  ['32 px, patch 8, batch 2, D = 10 (scalar stores)', 2, 3, 32, 8, 10],
];

describe('patch embedding (gathered matmul + class token + positions)', () => {
  for (const [name, batch, C, S, P, D] of cases) {
    it(name, async () => {
      const device = await testDevice();
      const seed = freshSeed();
      const r = rng(seed);
      const T = 1 + (S / P) ** 2;
      const K = C * P * P;
      const image = randn(r, batch * C * S * S);
      const w = randn(r, K * D, 1 / Math.sqrt(K));
      const bias = randn(r, D, 0.5);
      const cls = randn(r, D);
      const pos = randn(r, T * D, 0.5);
      const got = await runDispatch(
        device,
        (b) => patchEmbed({ label: 'test.patch', batch, channels: C, imageSize: S, patchSize: P, D, image: b.image, w: b.w, bias: b.bias, cls: b.cls, pos: b.pos, out: b.out }),
        { inputs: { image, w, bias, cls, pos }, outputs: { out: batch * T * D } },
      );
      const err = relL2(got.out, patchEmbedRef(image, w, bias, cls, pos, batch, C, S, P, D));
      expectWithin(`patch embed ${name}`, err, TOL, seed, got.out);
    });
  }
});
