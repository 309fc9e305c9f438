import type { OpDefinition } from '../definition.js';
import { randn } from '../sample.js';
import { patchEmbed, PATCH_EMBED_VARIANTS, type PatchEmbedShape, type PatchEmbedVariant } from './op.js';

const tokens = (s: PatchEmbedShape) => s.prefix + (s.imageSize / s.patchSize) ** 2;

/** patch_embed: the patch convolution as a gathered matmul, with class token(s) and positions added. */
export const PATCH_EMBED: OpDefinition<PatchEmbedShape, PatchEmbedVariant, 'patch_embed'> = {
  name: 'patch_embed',
  variants: PATCH_EMBED_VARIANTS,
  defaultVariant: 'tiled_gather',
  // Relative L2 ≤ 1e-5 against float64: dot products of length C·P·P ≤ 768 in float32.
  tol: 1e-5,
  sample: (s, r) => {
    const K = s.channels * s.patchSize ** 2;
    const x: Record<string, Float32Array> = {
      image: randn(r, s.batch * s.channels * s.imageSize ** 2),
      w: randn(r, K * s.D, 1 / Math.sqrt(K)),
      bias: randn(r, s.D, 0.5),
    };
    if (s.prefix >= 1) x.cls = randn(r, s.D);
    if (s.registers) x.reg = randn(r, s.registers * s.D);
    else if (s.prefix >= 2) x.dist = randn(r, s.D);
    x.pos = randn(r, tokens(s) * s.D, 0.5);
    return x;
  },
  outputLength: (s) => s.batch * tokens(s) * s.D,
  dispatch: (s, variant, b, { label }) =>
    patchEmbed({ label, batch: s.batch, channels: s.channels, imageSize: s.imageSize, patchSize: s.patchSize, D: s.D, image: b.image, w: b.w, bias: b.bias, cls: s.prefix >= 1 ? b.cls : undefined, dist: s.prefix >= 2 && !s.registers ? b.dist : undefined, registers: s.registers ? { tokens: b.reg, count: s.registers } : undefined, pos: b.pos, out: b.out, variant }),
};
