import { describe, it } from 'vitest';
import { patchEmbed } from '../../src/kernels/patch_embed/op.js';
import { patchEmbedRef } from '../../src/kernels/patch_embed/reference.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Tolerance: relative L2 ≤ 1e-5 against float64: dot products of length C·P·P ≤ 768 in float32.
const TOL = 1e-5;

const cases: [string, number, number, number, number, number, number][] = [
  // name, batch, channels, image, patch, D, prefix tokens (1 class; 2 class + distillation; 0 none)
  ['ViT/16 at 224: 197 tokens (vec4 pixel loads)', 1, 3, 224, 16, 96, 1],
  ['grey 28 px, patch 7: K = 49, 50 tokens, batch 3 (scalar loads)', 3, 1, 28, 7, 48, 1],
  ['32 px, patch 8, batch 2, D = 10 (scalar stores)', 2, 3, 32, 8, 10, 1],
  ['DeiT distilled: 2 prefix tokens, 32 px, patch 4', 2, 3, 32, 4, 20, 2],
  ['no class token: patches only, batch 3', 3, 3, 24, 8, 12, 0],
];

describe('patch embedding (gathered matmul + class token + positions)', () => {
  for (const [name, batch, C, S, P, D, prefix] of cases) {
    it(name, async () => {
      const device = await testDevice();
      const seed = freshSeed();
      const r = rng(seed);
      const T = prefix + (S / P) ** 2;
      const K = C * P * P;
      const image = randn(r, batch * C * S * S);
      const w = randn(r, K * D, 1 / Math.sqrt(K));
      const bias = randn(r, D, 0.5);
      const tokens = Array.from({ length: prefix }, () => randn(r, D));
      const pos = randn(r, T * D, 0.5);
      const inputs: Record<string, Float32Array> = { image, w, bias, pos };
      if (prefix >= 1) inputs.cls = tokens[0];
      if (prefix >= 2) inputs.dist = tokens[1];
      const got = await runDispatch(
        device,
        (b) => patchEmbed({ label: 'test.patch', batch, channels: C, imageSize: S, patchSize: P, D, image: b.image, w: b.w, bias: b.bias, cls: b.cls, dist: b.dist, pos: b.pos, out: b.out }),
        { inputs, outputs: { out: batch * T * D } },
      );
      const err = relL2(got.out, patchEmbedRef(image, w, bias, tokens, pos, batch, C, S, P, D));
      expectWithin(`patch embed ${name}`, err, TOL, seed, got.out);
    });
  }
});
