/**
 * What a page loads only when it first uses one of these: the worker client (`worker: true`), the
 * explain plan and its kernels and the page's explain step (`explain()`), the tuner's timing harness (`tune: true`) and the ops
 * only some model families dispatch (SigLIP's attention-pooling head). In the browser bundle this
 * module is one chunk, fetched on first use.
 *
 * One chunk rather than one per feature, measured (test/package/bundle_size.test.ts, 2026-12-07):
 * esbuild puts each module in a chunk by the set of entries that reach it, so every separate lazy
 * chunk that shares code with the page splits the page's shared code into more chunks, each
 * gzipped on its own. With a chunk per feature the page loaded 62,007 B gzipped; with this one
 * chunk, 60,976 B. The price: a page that uses one of these features downloads the others' code
 * too (this chunk is about 10 KB gzipped; the worker client alone was 3 KB).
 */
export { WorkerClassifier } from './web/worker_client.js';
export { explainImage } from './web/explain.js';
export { Explainer } from './model/explain.js';
export { pickFastest } from './runtime/tune_timing.js';
export { FAMILY_OPS } from './kernels/family_ops.js';
