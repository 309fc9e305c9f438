import { describe, expect, it } from 'vitest';
import { F16_TOL, sourceKey, type Dispatch } from '../../src/kernels/kernel.js';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { GELU_ACTIVATION } from '../../src/kernels/gelu/activation.js';
import { epilogueName, type MatmulEpilogue } from '../../src/kernels/matmul/epilogue.js';
import { linearRef } from '../../src/kernels/matmul/reference.js';
import { linear } from '../../src/kernels/matmul/op.js';
import { subgroupMatrixLinearCode } from '../../src/kernels/matmul/subgroup_matrix.js';
import { EMULATED_FRAGMENT_OPS } from './subgroup_matrix_emulation.js';
import { SGMAT_TILES } from '../../src/kernels/matmul/variants.js';
import { floatToHalf } from '../../src/model/safetensors.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';

// The tensor-core matmul (sgmat_*) runs only where the adapter has subgroup matrices (NVIDIA with
// Dawn's flags; ops.test.ts runs it there and skips it, with the reason, elsewhere). This test
// runs the same generated kernel with its three subgroup-matrix operations written out in plain
// WGSL (EMULATED_FRAGMENT_OPS, ./subgroup_matrix_emulation.ts), on any adapter with shader-f16 (lavapipe has it):
// the f16 staging of A and W (vec4 and scalar paths, packed-half weights), every subgroup's
// fragment offsets, the K slices, the staging fragment and the masked epilogue are all checked
// against float64, within F16_TOL (operands rounded to f16, f32 sums).
const SHAPES: [string, number, number, number, MatmulEpilogue, boolean][] = [
  ['ViT-S qkv, 197 tokens', 197, 384, 1152, 'none', false],
  ['3 images × 50 tokens, mlp, GELU', 150, 64, 256, GELU_ACTIVATION, false],
  ['classifier 1000 classes, batch 3', 3, 192, 1000, 'none', false],
  ['odd everything (scalar paths), residual', 37, 49, 10, 'residual', false],
  ['K not multiple of 4, N multiple', 65, 50, 68, 'none', false],
  ['exact tile fit, residual', 128, 64, 128, 'residual', false],
  ['f16 weights (packed halves), ViT-B fc2-like', 70, 96, 40, 'residual', true],
  ['f16 weights, N odd (scalar halves)', 33, 40, 7, GELU_ACTIVATION, true],
];

function halves(w: Float32Array): { packed: Float32Array; rounded: Float32Array } {
  const n = w.length;
  const u16 = new Uint16Array(n + (n % 2));
  for (let i = 0; i < n; i++) u16[i] = floatToHalf(w[i]);
  const f16 = new Float32Array(n);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < n; i++) {
    const h = u16[i];
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const sign = h & 0x8000 ? -1 : 1;
    f16[i] = e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  void u32;
  return { packed: new Float32Array(u16.buffer), rounded: f16 };
}

// Every tile. This test was opt-in until 2026-11-30: the emulated kernels looked hung on lavapipe
// (the larger tiles on the development machine, even sgmat_32x64 in a fresh Debian root). They
// were compiling: with the emulated multiply's loops fully unrolled, one kernel took ~50 s of LLVM
// time (MESA_SHADER_CACHE_DISABLE=true), minutes for the larger tiles, and Mesa's shader cache
// made reruns fast where they had once finished. The emulation now loops to bounds the compiler
// cannot see; all four tiles × 8 shapes take ~30 s with the shader cache disabled.
for (const [variant, tile] of Object.entries(SGMAT_TILES)) {
  describe(`matmul/${variant}, subgroup matrices emulated`, () => {
    for (const [name, M, K, N, epilogue, wHalf] of SHAPES) {
      it(`${name}: ${M}x${K}x${N}, epilogue ${epilogueName(epilogue)}`, async (t) => {
        const device = await testDevice();
        if (!device.features.has('shader-f16')) t.skip();
        const seed = freshSeed();
        const shape = { M, K, N, epilogue, bias: true };
        const inputs = MATMUL.sample(shape, rng(seed));
        const h = wHalf ? halves(inputs.w) : undefined;
        const io = { ...inputs, ...(h ? { w: h.packed } : {}) };
        const make = (b: Record<string, { buffer: GPUBuffer }>): Dispatch => {
          const d = linear({ label: 'test.sgmat', M, K, N, a: b.a, w: b.w, bias: b.bias, residual: epilogue === 'residual' ? b.residual : undefined, out: b.out, epilogue, variant: variant as keyof typeof SGMAT_TILES, wStorage: wHalf ? 'f16' : 'f32' });
          const params = { vecA: K % 4 === 0, vecN: N % 4 === 0, w: wHalf ? ('f16' as const) : ('f32' as const), bias: true, epilogue };
          const code = subgroupMatrixLinearCode(tile, params, EMULATED_FRAGMENT_OPS);
          return { ...d, source: { kernel: `matmul/${variant}.emulated`, key: sourceKey(`matmul/${variant}.emulated`, { ...params, epilogue: epilogueName(epilogue) }), code } };
        };
        const got = await runDispatch(device, make, { inputs: io, outputs: { out: M * N } });
        // Against float64 of the inputs as given (the f16 weights' own values where they are halves).
        const want = linearRef(inputs.a, h ? h.rounded : inputs.w, inputs.bias, inputs.residual, M, K, N, epilogue);
        expectWithin(`matmul/${variant} emulated ${name}`, relL2(got.out, want), F16_TOL, seed, got.out);
        // f16 operands do change the result: the kernel is not silently computing in f32.
        if (!wHalf) expect(relL2(got.out, want)).toBeGreaterThan(1e-6);
      });
    }
  });
}
