import { describe, expect, it } from 'vitest';
import { EXPLAIN_OPS } from '../../src/kernels/explain_ops.js';
import { FAMILY_OPS } from '../../src/kernels/family_ops.js';
import { DEFERRED_OPS, OPS } from '../../src/kernels/registry.js';
import { parseConfig } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';
import { declaredWeights } from '../../src/model/weights.js';

// The registry names the ops whose definitions load later (it cannot import them without pulling
// their kernels into the browser bundle): that list must be exactly the explain ops and the family
// ops, none of them also a forward op.
describe('deferred ops', () => {
  it('DEFERRED_OPS names exactly EXPLAIN_OPS and FAMILY_OPS, and none is in OPS', () => {
    expect([...DEFERRED_OPS].sort()).toEqual([...EXPLAIN_OPS, ...FAMILY_OPS].map((d) => d.name).sort());
    expect(OPS.map((d) => d.name).filter((n) => DEFERRED_OPS.includes(n))).toEqual([]);
  });

  // This file imports neither src/node.ts nor the on-demand chunk: the family ops are unregistered here.
  it('a model whose graph needs an unloaded family op: its weights are declared, a runnable graph is refused by name', () => {
    const c = parseConfig({ image_size: 8, patch_size: 4, num_channels: 3, hidden_size: 8, num_layers: 1, num_heads: 2, mlp_size: 16, num_classes: 0, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'map', class_token: false }, 'test');
    expect([...declaredWeights(c).keys()].filter((n) => n.startsWith('pool.'))).toEqual(['pool.kv.weight', 'pool.kv.bias', 'pool.query', 'pool.proj.weight', 'pool.proj.bias', 'pool.norm.weight', 'pool.norm.bias', 'pool.mlp.fc1.weight', 'pool.mlp.fc1.bias', 'pool.mlp.fc2.weight', 'pool.mlp.fc2.bias']);
    const dummy = { buffer: undefined as unknown as GPUBuffer };
    expect(() => buildGraph(c, () => dummy, { batch: 1, maxWorkgroupStorage: 16384 })).toThrow(/this model needs op attention_pool, not loaded yet: await loadGraphOps\(config\)/);
  });
});
