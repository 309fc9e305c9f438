import type { OpChecks } from '../definition.js';
import type { AttentionProbsShape, AttentionProbsVariant } from './op.js';
import { headMeanProbsRef } from './reference.js';

const cases: [string, number, number, number, number, number?, boolean?][] = [
  // name, batch, T, heads, headDim, workgroup storage limit (the device's when omitted)
  ['ViT-S: 197 tokens, 6 heads of 64', 1, 197, 6, 64],
  ['3 images × 27 tokens (odd), 3 heads of 16', 3, 27, 3, 16],
  ['scalar path: head dim 6, 49 tokens, batch 2', 2, 49, 2, 6],
  ['fewer keys than invocations: 2 tokens, 1 head', 2, 2, 1, 8],
  ['more keys than 2 rounds of invocations: 150 tokens, 4 heads of 12', 1, 150, 4, 12],
  ['small workgroup memory: key tiles of 8, 70 tokens, 2 heads of 64', 1, 70, 2, 64, 2048],
  ['score bias (BEiT): 50 tokens, 3 heads of 16, batch 2', 2, 50, 3, 16, undefined, true],
];

/** attention_probs's checks (the definition: ATTENTION_PROBS, ./definition.ts). */
export const ATTENTION_PROBS_CHECKS: OpChecks<AttentionProbsShape, AttentionProbsVariant> = {
  testShapes: cases.map(([name, batch, T, heads, headDim, maxWorkgroupStorage, bias]) => ({ name, shape: { batch, T, heads, headDim, maxWorkgroupStorage, ...(bias ? { bias } : {}) } })),
  reference: (s, x) => headMeanProbsRef(x.qkv, s.batch, s.T, s.heads, s.headDim, x.bias),
};
