import { passesOf, type Pass } from '../model/classify.js';

/**
 * The page's batching rule (src/model/classify.ts runs the passes): one image at batch 1; more in
 * passes of up to `maxBatch` images, each run at batch `maxBatch` (the slots past `count` are
 * zeros). A model keeps two compiled plans (one per batch size, ViTModel's MAX_PLANS), so two
 * sizes, 1 and maxBatch, are all a page ever compiles and keeps: no plan is rebuilt mid-session
 * whatever the array lengths, and GPU memory stays flat. The cost: a short array does a full
 * batch's work (on a GPU about the time of the short one; on a CPU adapter proportionally more:
 * lower maxBatch there).
 */
export const chunksOf = (n: number, maxBatch: number): Pass[] => passesOf(n, maxBatch, n === 1 ? 1 : maxBatch);
