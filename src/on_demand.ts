/**
 * What a page loads only when it first uses one of these: the worker client (`worker: true`), the
 * explain plan and its kernels and the page's explain step (`explain()`), the tuner's timing harness (`tune: true`), the ops
 * only some model families dispatch (SigLIP's attention-pooling head, DINOv2-g's SwiGLU gate) and the Hub loader with the
 * whole converter (a model given by id, src/web/hub.ts), the checks of quantised weight files
 * (src/model/quant_weights.ts: loadWeights imports them for a file with `webvit.quant`), the model
 * families (src/model/families: loadWeights registers them for a file whose config names one), and the WGSL builders of the big_* and
 * sgmat_* matmuls (src/kernels/matmul/variants.ts, LATER: 1.4 KB gzipped that a page runs only on
 * a data-centre GPU's tuning or with f16 subgroup matrices). In the browser bundle this module is
 * one chunk, fetched on first use.
 *
 * One chunk rather than one per feature, measured (test/package/bundle_size.test.ts, 2026-12-07):
 * esbuild puts each module in a chunk by the set of entries that reach it, so every separate lazy
 * chunk that shares code with the page splits the page's shared code into more chunks, each
 * gzipped on its own. With a chunk per feature the page loaded 62,007 B gzipped; with this one
 * chunk, 60,976 B. The price: a page that uses one of these features downloads the others' code
 * too (this chunk is about 10 KB gzipped; the worker client alone was 3 KB).
 *
 * The Hub loader was measured both ways (2026-12-07): as a chunk of its own, the page loaded
 * 62,564 B (the shared code split once more); in this chunk, 61,349 B, with this chunk at 41 KB
 * gzipped (the converter is 30 KB of it). A page over its budget for every visitor, or 30 KB more
 * on the first explain() or worker start: the second.
 */
export { WorkerClassifier } from './web/worker_client.js';
export { explainImage } from './web/explain.js';
export { Explainer } from './model/explain.js';
export { pickFastest } from './runtime/tune_timing.js';
export { FAMILY_OPS } from './kernels/family_ops.js';
export { loadHubModel } from './web/hub.js';
export { doubleBufferedLinearCode } from './kernels/matmul/double_buffered.js';
export { subgroupMatrixLinearCode } from './kernels/matmul/subgroup_matrix.js';
export { quantWeights } from './model/quant_upload.js';
export { readQuantized } from './model/quant_weights.js';
export { registerFamilies } from './model/families/index.js';
