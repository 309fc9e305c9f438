import type { OpChecks } from '../definition.js';
import type { AttentionExplainShape, AttentionExplainVariant } from './op.js';
import { attentionDistanceRef } from './reference.js';

const cases: [string, number, number, number, number, number, number, number | undefined, boolean?][] = [
  // name, batch, grid, prefix, heads, headDim, patch size, workgroup storage limit (the device's when undefined)
  ['ViT-S/16: 14×14 patches + class token, 6 heads of 64', 1, 14, 1, 6, 64, 16, 16384],
  ['odd grid 5×5, class + distillation token, 3 heads of 16, batch 2', 2, 5, 2, 3, 16, 7, 16384],
  ['no prefix (mean-pooled), 7×7, scalar path: head dim 6, batch 3', 3, 7, 0, 2, 6, 4, 16384],
  ['small workgroup memory: key tiles of 8, 9×9 + class token', 1, 9, 1, 2, 64, 8, 4096],
  ['one patch: every distance is 0', 2, 1, 1, 2, 8, 32, 16384],
  ['score bias (BEiT): 6×6 + class token, 3 heads of 16, batch 2', 2, 6, 1, 3, 16, 8, 16384, true],
];

/** attention_explain's checks (the definition: ATTENTION_EXPLAIN, ./definition.ts). */
export const ATTENTION_EXPLAIN_CHECKS: OpChecks<AttentionExplainShape, AttentionExplainVariant> = {
  testShapes: cases.map(([name, batch, grid, prefix, heads, headDim, patchSize, maxWorkgroupStorage, bias]) => ({
    name,
    shape: { batch, T: prefix + grid * grid, heads, headDim, prefix, grid, patchSize, maxWorkgroupStorage, ...(bias ? { bias } : {}) },
  })),
  reference: (s, x) => attentionDistanceRef(x.qkv, s.batch, s.T, s.heads, s.headDim, s.prefix, s.grid, s.patchSize, x.bias),
};
