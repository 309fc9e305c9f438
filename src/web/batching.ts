/** One forward pass of a call: images start … start + count − 1, run at plan batch size `batch`. */
export interface Chunk {
  start: number;
  count: number;
  batch: number;
}

/**
 * How `n` images run: one image at batch 1; more in passes of up to `maxBatch` images, each run
 * at batch `maxBatch` (the slots past `count` are zeros). A model keeps two compiled plans (one
 * per batch size, ViTModel's MAX_PLANS), so two sizes, 1 and maxBatch, are all a page ever
 * compiles and keeps: no plan is rebuilt mid-session whatever the array lengths, and GPU memory
 * stays flat. The cost: a short array does a full batch's work (on a GPU about the time of the
 * short one; on a CPU adapter proportionally more: lower maxBatch there).
 */
export function chunksOf(n: number, maxBatch: number): Chunk[] {
  const out: Chunk[] = [];
  for (let start = 0; start < n; start += maxBatch) {
    const count = Math.min(maxBatch, n - start);
    out.push({ start, count, batch: n === 1 ? 1 : maxBatch });
  }
  return out;
}
