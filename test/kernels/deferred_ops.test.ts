import { describe, expect, it } from 'vitest';
import { EXPLAIN_OPS } from '../../src/kernels/explain_ops.js';
import { DEFERRED_OPS, OPS } from '../../src/kernels/registry.js';

// The registry names the ops whose definitions load later (it cannot import them without pulling
// their kernels into the browser bundle): that list must be exactly the explain ops, none of them
// also a forward op.
describe('deferred ops', () => {
  it('DEFERRED_OPS names exactly EXPLAIN_OPS, and none is in OPS', () => {
    expect([...DEFERRED_OPS].sort()).toEqual(EXPLAIN_OPS.map((d) => d.name).sort());
    expect(OPS.map((d) => d.name).filter((n) => DEFERRED_OPS.includes(n))).toEqual([]);
  });
});
