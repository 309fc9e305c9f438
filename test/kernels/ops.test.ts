import { describe, expect, it } from 'vitest';
import { variantNames, type OpDefinition, type VariantInfo } from '../../src/kernels/definition.js';
import type { Activation } from '../../src/kernels/activation.js';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { MATMUL_CHECKS } from '../../src/kernels/matmul/checks.js';
import { epilogueName } from '../../src/kernels/matmul/epilogue.js';
import { allOps } from '../../src/model/ops.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { expectWithin, relL2 } from '../helpers/compare.js';
import { runDispatch, skipIfUnavailable, testDevice } from '../helpers/gpu.js';
import { variantTol, type VariantNeeds } from '../../src/kernels/kernel.js';
import { freshSeed, rng } from '../helpers/random.js';

// Every op × every variant × every test shape of its definition (src/kernels/<op>/definition.ts),
// against the op's float64 reference within the op's tolerance (each written down, with why, at
// the definition). Seeded inputs from the shared generator; the seed is in every failure message
// (replay with WEBVIT_SEED). A variant the device cannot run is skipped; one that cannot compute a
// shape (a head dim it cannot split) must refuse it with a BAD_ARGUMENT that says why.
// Run one op with `npx vitest run test/kernels/ops.test.ts -t matmul/`.
const slice = { buffer: {} as GPUBuffer, offset: 0, size: 1 << 20 };
const ctx = (maxWorkgroupStorage: number) => ({ label: 'test', maxWorkgroupStorage });

for (const def of allOps()) {
  const table = def.variants as Record<string, VariantInfo>;
  for (const variant of variantNames(def)) {
    describe(`${def.name}/${variant}`, () => {
      for (const c of def.testShapes) {
        if (c.only && !c.only.includes(variant)) continue;
        it(c.name, async (t) => {
          const why = table[variant].inapplicable?.(c.shape);
          if (why) {
            let caught: unknown;
            try {
              def.dispatch(c.shape, variant, new Proxy({}, { get: () => slice }), ctx(16384));
            } catch (e) {
              caught = e;
            }
            expect(caught).toBeInstanceOf(WebvitError);
            expect((caught as WebvitError).code).toBe('BAD_ARGUMENT');
            expect((caught as WebvitError).message).toContain(why);
            return;
          }
          const device = await testDevice();
          skipIfUnavailable(t, device, def, variant);
          const seed = freshSeed();
          const inputs = def.sample(c.shape, rng(seed));
          const got = await runDispatch(device, (b) => def.dispatch(c.shape, variant, b, ctx(device.limits.maxComputeWorkgroupStorageSize)), {
            inputs,
            outputs: { out: def.outputLength(c.shape) },
          });
          expectWithin(`${def.name}/${variant} ${c.name}`, relL2(got.out, def.reference(c.shape, inputs)), variantTol(def.tol, (def.variants as Record<string, VariantNeeds>)[variant]), seed, got.out);
        });
      }
    });
  }
}

// Every activation an op describes (elementwiseOp) also runs fused in fc1's epilogue, in every
// matmul variant, on a vec4 and a scalar shape; the ones matmul's own test shapes use are covered.
const fused = (allOps() as readonly (OpDefinition & { activation?: Activation })[])
  .flatMap((d) => (d.activation ? [d.activation] : []))
  .filter((act) => !MATMUL_CHECKS.testShapes.some((c) => epilogueName(c.shape.epilogue) === act.name));
for (const act of fused) {
  for (const variant of variantNames(MATMUL)) {
    describe(`matmul/${variant} with ${act.name} fused`, () => {
      for (const [M, K, N] of [[65, 48, 68], [37, 49, 10]]) {
        it(`${M}x${K}x${N}`, async (t) => {
          const device = await testDevice();
          skipIfUnavailable(t, device, MATMUL, variant);
          const shape = { M, K, N, epilogue: act, bias: true };
          const seed = freshSeed();
          const inputs = MATMUL.sample(shape, rng(seed));
          const got = await runDispatch(device, (b) => MATMUL.dispatch(shape, variant, b, ctx(16384)), { inputs, outputs: { out: M * N } });
          expectWithin(`matmul/${variant} ${act.name} ${M}x${K}x${N}`, relL2(got.out, MATMUL_CHECKS.reference(shape, inputs)), variantTol(MATMUL.tol, MATMUL.variants[variant]), seed, got.out);
        });
      }
    });
  }
}

// One name per variant: the kernel a dispatch compiles, its pipeline label and its profile row are
// `op/variant` exactly as the registry names it, and the dispatch says which op, variant and
// problem it is (what the tuner and the benchmark read). No device needed.
describe('every dispatch is named op/variant and carries its op node', () => {
  for (const def of allOps()) {
    it(def.name, () => {
      const table = def.variants as Record<string, VariantInfo>;
      for (const c of def.testShapes) {
        const names = variantNames(def).filter((v) => table[v].inapplicable?.(c.shape) === undefined);
        for (const variant of names) {
          const d = def.dispatch(c.shape, variant, new Proxy({}, { get: () => slice }), ctx(16384));
          expect(d.source.kernel, c.name).toBe(`${def.name}/${variant}`);
          expect(d.op?.name).toBe(def.name);
          expect(d.op?.variant).toBe(variant);
          // Switching the variant keeps everything but the kernel: same label, bindings, sizes.
          for (const other of names) {
            const e = d.op!.withVariant(other);
            expect(e.source.kernel).toBe(`${def.name}/${other}`);
            expect([e.label, e.bindings, e.sizes, e.uniforms, e.op?.shape]).toEqual([d.label, d.bindings, d.sizes, d.uniforms, d.op?.shape]);
          }
        }
      }
    });
  }
});
