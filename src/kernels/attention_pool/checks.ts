import type { OpChecks } from '../definition.js';
import type { AttentionPoolShape, AttentionPoolVariant } from './op.js';
import { attentionPoolRef } from './reference.js';

/** attention_pool's checks (the definition: ATTENTION_POOL, ./definition.ts). */
export const ATTENTION_POOL_CHECKS: OpChecks<AttentionPoolShape, AttentionPoolVariant> = {
  testShapes: [
    { name: 'SigLIP-B/16 at 224: 196 tokens (two chunks, the second partial), 12 heads of 64, batch 1', shape: { batch: 1, T: 196, heads: 12, headDim: 64 } },
    { name: 'odd: batch 3, 197 tokens, 6 heads of 12', shape: { batch: 3, T: 197, heads: 6, headDim: 12 } },
    { name: 'one token, one head of 1, batch 2', shape: { batch: 2, T: 1, heads: 1, headDim: 1 } },
    { name: 'exactly one chunk: 128 tokens, 3 heads of 72', shape: { batch: 2, T: 128, heads: 3, headDim: 72 } },
    { name: 'head dim past the workgroup: 2 heads of 200 (two accumulators), 37 tokens', shape: { batch: 1, T: 37, heads: 2, headDim: 200 } },
    { name: 'many chunks: 600 tokens, 2 heads of 8, batch 2', shape: { batch: 2, T: 600, heads: 2, headDim: 8 } },
  ],
  reference: ({ batch, T, heads, headDim }, x) => attentionPoolRef(x.q, x.kv, batch, T, heads, headDim),
};
