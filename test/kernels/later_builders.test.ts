import { describe, expect, it } from 'vitest';
import { linear, MATMUL_VARIANTS } from '../../src/kernels/matmul/op.js';
import { loadLater } from '../../src/kernels/matmul/variants.js';
import { doubleBufferedLinearCode } from '../../src/kernels/matmul/double_buffered.js';

// The big_* and sgmat_* WGSL builders load with the on-demand chunk (src/kernels/matmul/variants.ts,
// LATER); their kernel sources carry `ready`, which the pipeline cache awaits before reading the
// WGSL (src/runtime/pipelines.ts). Vitest runs each file in its own process, so nothing has
// loaded them before this file's first test.
const buffer = { buffer: undefined as unknown as GPUBuffer };
const dispatch = (variant: keyof typeof MATMUL_VARIANTS) =>
  linear({ label: 'later', M: 197, K: 36, N: 10, a: buffer, w: buffer, out: buffer, epilogue: 'none', variant });

describe('matmul builders that load later', () => {
  it('a big_* source reads its WGSL only after ready(); a tiled one has it at once', async () => {
    const tiled = dispatch('tiled').source;
    expect(tiled.ready).toBeUndefined();
    expect(tiled.code).toContain('@compute');
    const big = dispatch('big_128x64').source;
    expect(typeof big.ready).toBe('function');
    expect(() => big.code).toThrow(/before loadLater\(\) resolved/);
    await big.ready!();
    const code = big.code;
    expect(code).toBe(doubleBufferedLinearCode({ BM: 128, BN: 64, BK: 8 }, { vecA: true, vecN: false, w: 'f32', bias: false, epilogue: 'none' }));
    expect(big.code).toBe(code); // read once, kept
    expect(dispatch('sgmat_64x64').source.code).toContain('subgroup_matrix_left');
    await loadLater(); // a second load changes nothing
    expect(dispatch('big_128x64').source.code).toBe(code);
  });
});
