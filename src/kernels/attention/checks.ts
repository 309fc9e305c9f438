import type { OpChecks } from '../definition.js';
import type { AttentionShape, AttentionVariant } from './op.js';
import { attentionRef } from './reference.js';

const cases: [string, number, number, number, number, number | undefined, boolean?][] = [
  // name, batch, T, heads, headDim, workgroup storage limit (the device's when undefined)
  ['ViT-S: 197 tokens, 6 heads of 64', 1, 197, 6, 64, 16384],
  ['3 images × 50 tokens, 3 heads of 16', 3, 50, 3, 16, 16384],
  ['17 tokens, 4 heads of 16, batch 2', 2, 17, 4, 16, 16384],
  ['scalar path: head dim 6', 2, 37, 2, 6, 16384],
  ['head dim 20 (not a multiple of 16: scalar quarters of 5)', 1, 33, 3, 20, 16384],
  ['head dim 8, 1 token', 1, 1, 2, 8, 16384],
  ['small workgroup memory: key tiles of 8', 1, 70, 2, 64, 4096],
  // BEiT's relative position bias: an additive [H, T, T] score term (online_softmax* only; the others refuse it).
  ['score bias (BEiT): 197 tokens, 3 heads of 64, batch 2', 2, 197, 3, 64, 16384, true],
  ['score bias, scalar path: 26 tokens, 5 heads of 12, key tiles of 8', 3, 26, 5, 12, 768, true],
];

/** attention's checks (the definition: ATTENTION, ./definition.ts). */
export const ATTENTION_CHECKS: OpChecks<AttentionShape, AttentionVariant> = {
  testShapes: cases.map(([name, batch, T, heads, headDim, maxWorkgroupStorage, bias]) => ({ name, shape: { batch, T, heads, headDim, maxWorkgroupStorage, ...(bias ? { bias } : {}) } })),
  reference: ({ batch, T, heads, headDim }, x) => attentionRef(x.qkv, batch, T, heads, headDim, x.bias),
};
