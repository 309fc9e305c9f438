import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allDigests } from './graph_digest.js';

// Issue 19: adding families must leave the ViT/DeiT graphs exactly as they were. The digests in
// test/fixtures/vit_graph_digests.json were computed by this same code (graph_digest.ts) at commit
// 354d93b, before the first family's pieces (pre_norm, projection) entered the graph builder:
// every dispatch's label, kernel, WGSL, grid, bindings and uniforms, for each preset and each
// token/pooling kind, at batch 1 and 3. A change to them is a change to what ViT users run.
// Recomputed once since, deliberately (2026-12-07, issue 21): every matmul variant now reads W
// through the one weight-read module (src/kernels/matmul/weight_read.ts: load_w4 / load_w, the
// bindings numbered in order; the patch embedding's cache key names its weight storage), which
// changes the WGSL text and keys of every matmul and patch embedding but not what they compute; every variant was re-run against its float64 reference
// (test/kernels/ops.test.ts, matmul.test.ts) before the digests were replaced.
describe('the ViT/DeiT dispatch lists and WGSL are unchanged', () => {
  it('same digests as before the families', () => {
    const want = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'vit_graph_digests.json'), 'utf8')) as Record<string, string>;
    const got = allDigests();
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const k of Object.keys(want)) expect(got[k], `${k}: the graph changed`).toBe(want[k]);
  });
});
