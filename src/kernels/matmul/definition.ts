import type { OpDefinition } from '../definition.js';
import { isCpuAdapter, unavailableReason } from '../kernel.js';
import { randn } from '../sample.js';
import { linear, MATMUL_VARIANTS, type MatmulShape, type MatmulVariant } from './op.js';
import type { MatmulVariantDef } from './variants.js';
import { weightRead } from './weight_read.js';

/** Rows below which a matmul is a batch of matrix-vector products on a CPU adapter (the classifier at small batch). */
const SMALL_M = 8;

/** int8 and q4 weights: their ranking of variants differs from f32's, so the tuner times them as they are. */
const quantised = (s: MatmulShape) => (s.wStorage === 'int8' || s.wStorage === 'q4' ? s.wStorage : undefined);

/**
 * matmul: the linear layers and the classifier. Standalone samples hold f32 weights, or for int8
 * and q4 problems random codes with scales of the size of trained weights' (f16 storage adds the
 * same work to every variant and is not kept; all storages are tested against float64 in
 * test/kernels/matmul.test.ts).
 */
export const MATMUL: OpDefinition<MatmulShape, MatmulVariant, 'matmul'> = {
  name: 'matmul',
  variants: MATMUL_VARIANTS,
  defaultVariant: 'tiled',
  // Relative L2 ≤ 1e-5 against float64. A float32 dot product of length K carries ~sqrt(K)·2^-24
  // relative error (K = 3072: ~3e-6), so 1e-5 holds for ViT sizes with margin, while any
  // indexing, masking or epilogue mistake gives errors of order 1.
  tol: 1e-5,
  sample: ({ M, K, N, epilogue, bias, wStorage }, r) => ({
    a: randn(r, M * K),
    ...(wStorage === 'int8' || wStorage === 'q4' ? weightRead(wStorage).sample!(r, K, N) : { w: randn(r, K * N, 1 / Math.sqrt(K)) }),
    ...(bias ? { bias: randn(r, N, 0.5) } : {}),
    ...(epilogue === 'residual' ? { residual: randn(r, M * N) } : {}),
  }),
  outputLength: (s) => s.M * s.N,
  dispatch: (s, variant, b, { label }) =>
    linear({ label, M: s.M, K: s.K, N: s.N, a: b.a, w: b.w, bias: s.bias ? b.bias : undefined, residual: s.epilogue === 'residual' ? b.residual : undefined, out: b.out, epilogue: s.epilogue, variant, wStorage: quantised(s), wScale: quantised(s) && b.wscale }),
  tuning: {
    // Each distinct shape on its own: the classifier at batch 1 wants another kernel than fc1.
    per: 'shape',
    // The epilogue and f16 storage add the same work to every variant; int8 and q4 do not
    // (q4's scales are applied per block in the register family, per weight loaded in the others).
    problem: (s) => ({ M: s.M, K: s.K, N: s.N, epilogue: 'none', bias: true, ...(quantised(s) ? { wStorage: quantised(s) } : {}) }),
    key: (s) => `${s.M}x${s.K}x${s.N}${quantised(s) ? `.${s.wStorage}` : ''}`,
    timed: (p, maxRows) => ({ ...p, M: Math.min(p.M, maxRows) }),
    /**
     * Without a tune (BENCHMARKS.md):
     * - CPU adapters (lavapipe, SwiftShader): the subgroup variants, which share loads through
     *   subgroupBroadcast instead of workgroup memory and barriers. On lavapipe the tuner picks
     *   subgroup_8x4/16x4/8x8 for the block matmuls and they differ by less than the machine's
     *   noise; subgroup_8x4 compiles in 0.4 s (16x4, 8x8, tiled: about 1 s). Without subgroups,
     *   register_4x4 (no barriers: 2.5–6× faster than tiled there).
     * - Few rows on CPUs (M < 8: the classifier at a small batch): register_4x4; a 64-row tile
     *   would waste all but M of its rows (20–50× slower on lavapipe).
     * - GPUs, by how many 64×64 output tiles the problem has (BENCHMARKS.md, "NVIDIA H200",
     *   what the tuner chose there): under 128 (every batch-1 layer of ViT-Ti/S, ViT-B's fc2 and
     *   attn.proj, the classifier) slicedk_16x64, whose K split fills the multiprocessors that
     *   64×64 tiles leave idle (ViT-B fc2 at batch 1: 0.93 → 0.18 ms); under 1000 tiled_32x64;
     *   beyond, tiled.
     * - precision 'f16' where the adapter has subgroup matrices: sgmat_32x64 under 128 tiles,
     *   else sgmat_64x64.
     */
    preferred: (device, { M, N }, precision) => {
      const can = (v: MatmulVariant) => unavailableReason(device, MATMUL_VARIANTS[v] as MatmulVariantDef) === undefined;
      const cpu = isCpuAdapter(device);
      const tiles = Math.ceil(M / 64) * Math.ceil(N / 64);
      if (precision === 'f16' && !cpu && can('sgmat_64x64')) return tiles < 128 ? 'sgmat_32x64' : 'sgmat_64x64';
      if (!cpu) return tiles < 128 ? 'slicedk_16x64' : tiles < 1000 ? 'tiled_32x64' : 'tiled';
      if (M < SMALL_M) return 'register_4x4';
      return can('subgroup_8x4') ? 'subgroup_8x4' : can('subgroup_4x4') ? 'subgroup_4x4' : 'register_4x4';
    },
  },
};
