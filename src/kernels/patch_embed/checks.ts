import type { OpChecks } from '../definition.js';
import type { PatchEmbedShape, PatchEmbedVariant } from './op.js';
import { patchEmbedRef } from './reference.js';

const cases: [string, number, number, number, number, number, number][] = [
  // name, batch, channels, image, patch, D, prefix tokens (1 class; 2 class + distillation; 0 none)
  ['ViT/16 at 224: 197 tokens (vec4 pixel loads)', 1, 3, 224, 16, 96, 1],
  ['grey 28 px, patch 7: K = 49, 50 tokens, batch 3 (scalar loads)', 3, 1, 28, 7, 48, 1],
  ['32 px, patch 8, batch 2, D = 10 (scalar stores)', 2, 3, 32, 8, 10, 1],
  ['DeiT distilled: 2 prefix tokens, 32 px, patch 4', 2, 3, 32, 4, 20, 2],
  ['no class token: patches only, batch 3', 3, 3, 24, 8, 12, 0],
];
/** DINOv2 with registers: a class token then R register tokens (name, batch, channels, image, patch, D, registers). */
const registerCases: [string, number, number, number, number, number, number][] = [
  ['4 registers: class + 4 prefix rows, 28 px patch 7, batch 2 (vec4 stores)', 2, 3, 28, 7, 16, 4],
  ['1 register, D = 10 (scalar stores), batch 3', 3, 1, 24, 6, 10, 1],
];

/** patch_embed's checks (the definition: PATCH_EMBED, ./definition.ts). */
export const PATCH_EMBED_CHECKS: OpChecks<PatchEmbedShape, PatchEmbedVariant> = {
  testShapes: [
    ...cases.map(([name, batch, channels, imageSize, patchSize, D, prefix]) => ({ name, shape: { batch, channels, imageSize, patchSize, D, prefix } })),
    ...registerCases.map(([name, batch, channels, imageSize, patchSize, D, registers]) => ({ name, shape: { batch, channels, imageSize, patchSize, D, prefix: 1 + registers, registers } })),
  ],
  reference: (s, x) => {
    const prefix = s.registers ? [x.cls, ...Array.from({ length: s.registers }, (_, r) => x.reg.subarray(r * s.D, (r + 1) * s.D))] : [x.cls, x.dist].slice(0, s.prefix);
    return patchEmbedRef(x.image, x.w, x.bias, prefix, x.pos, s.batch, s.channels, s.imageSize, s.patchSize, s.D);
  },
};
