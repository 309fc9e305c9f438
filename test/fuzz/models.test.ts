import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeWeights } from '../../src/model/convert/index.js';
import { convertCheckpoint } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights, type LoadedWeights } from '../../src/model/weights.js';
import { shapeOf } from '../../src/model/config.js';
import { KERNEL_VARIANTS, type KernelChoice } from '../../src/kernels/registry.js';
import type { VariantInfo } from '../../src/kernels/definition.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { randn, rng } from '../../src/kernels/sample.js';
import { testDevice } from '../helpers/gpu.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureCheckpoint, layoutGolden, optionsFromArgs } from '../convert/layout_fixtures.js';
import { describeConfig, maxRelErr, modelSpecArb, randomWeights, vitForwardRef, type ModelSpec } from './models_helpers.js';

// Fuzzing for wrong answers: generated valid models (random small configs, seeded random weights,
// F32 or F16 files, sometimes forced kernel variants) are loaded on the test device and run on
// random batches of odd sizes; their logits (and pooled features) are held against the float64
// forward pass of models_helpers.ts. Inputs reach up to the edge of float32 (|x| up to 3.4e38):
// there the right behaviour is the right answer or an error that names the overflow, never a
// finite wrong answer.
//
// Tolerance: max |got − float64| / max |float64| ≤ 1e-4 over every logit (the golden tests'
// bound against PyTorch; these models are smaller, their measured errors are about 1e-6). A
// features-only model (num_classes 0) is held to it on its features.
//
//   WEBVIT_FUZZ_MODELS=N  models per property (default 8; the overflow property draws the same
//                         models with other inputs). Each model compiles its kernels: 0.1 s with Mesa's
//                         shader cache warm, up to 10-20 s cold on a loaded 2-core machine.
//                         Long run: WEBVIT_FUZZ_MODELS=500
//   WEBVIT_FUZZ_SEED=S    replay a failure (the seed is printed with it)

const TOL = 1e-4;
const MODELS = Number(process.env.WEBVIT_FUZZ_MODELS ?? 8);
const SEED = process.env.WEBVIT_FUZZ_SEED !== undefined ? Number(process.env.WEBVIT_FUZZ_SEED) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
/** float32's largest finite value. */
const F32_MAX = 3.4028234663852886e38;

/** Per property: cases, models loaded, refusals by code, and the largest error seen. */
class Tally {
  cases = 0;
  loaded = 0;
  answers = 0;
  refusals = new Map<string, number>();
  maxErr = 0;
  readonly t0 = performance.now();
  seconds = 0;
  refuse(code: string): void {
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }
  toString(): string {
    const r = [...this.refusals].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    return `${this.cases} cases, ${this.loaded} models loaded, ${this.answers} answers checked (max error ${this.maxErr.toExponential(2)} of max |logit|), refusals: ${r}; ${this.seconds.toFixed(1)} s`;
  }
}
const tallies: Record<string, Tally> = {};
afterAll(() => {
  console.log(`[fuzz] models: seed ${SEED} (WEBVIT_FUZZ_SEED), ${MODELS} models per property (WEBVIT_FUZZ_MODELS)`);
  for (const [name, t] of Object.entries(tallies)) console.log(`[fuzz]   ${name}: ${t}`);
});

async function check<T>(name: string, t: Tally, property: fc.IAsyncProperty<T>, runs: number): Promise<void> {
  try {
    await fc.assert(property, { numRuns: runs, seed: SEED, endOnFailure: true });
  } catch (e) {
    throw new Error(`${name}: failed with WEBVIT_FUZZ_SEED=${SEED}\n${(e as Error).message}`, { cause: e });
  } finally {
    t.seconds = (performance.now() - t.t0) / 1000;
  }
}

/** Forced kernel variants that this suite may pick: f32 ones that need no subgroup matrices (those compile for a minute each on lavapipe). */
const FORCEABLE: Record<string, string[]> = Object.fromEntries(
  (['matmul', 'attention', 'layernorm', 'patch_embed', 'pool'] as const).map((op) => [
    op,
    Object.entries(KERNEL_VARIANTS[op] as Record<string, VariantInfo>)
      .filter(([, v]) => v.precision !== 'f16' && !v.subgroupMatrix)
      .map(([name]) => name),
  ]),
);
const kernelsArb: fc.Arbitrary<KernelChoice | undefined> = fc.option(
  fc.record(Object.fromEntries(Object.entries(FORCEABLE).map(([op, names]) => [op, fc.constantFrom(...names)])), { requiredKeys: [] }) as fc.Arbitrary<KernelChoice>,
  { freq: 2 },
);

/** Random pixels N(0, scale²), clamped into float32's finite range. */
function pixels(seed: number, n: number, scale: number): Float32Array {
  const x = randn(rng(seed), n, scale);
  for (let i = 0; i < n; i++) x[i] = Math.max(-F32_MAX, Math.min(F32_MAX, x[i]));
  return x;
}

/** The model's file: the generated weights written as the spec says, and what the loader reads back (F16: rounded). */
function modelFile(spec: ModelSpec): { bytes: Uint8Array; read: LoadedWeights } {
  const bytes = encodeWeights(randomWeights(spec), spec.dtype);
  return { bytes, read: readWeights(bytes, 'generated') };
}

/**
 * One model, one or more forwards: every answer must be within TOL of the float64 reference; a
 * refusal must be a one-line WebvitError, and after a finite input only one that names a float32
 * overflow. Returns nothing; failures throw with the config.
 */
async function runCase(t: Tally, spec: ModelSpec, kernels: KernelChoice | undefined, loadBatch: number, runs: { batch: number; scale: number; seed: number }[]): Promise<void> {
  t.cases++;
  const what = `${describeConfig(spec.config)}, ${spec.dtype} weights ×${spec.weightScale}, seed ${spec.seed}${kernels ? `, kernels ${JSON.stringify(kernels)}` : ''}, load batch ${loadBatch}`;
  const { bytes, read } = modelFile(spec);
  const device = await testDevice();
  let model: ViTModel;
  try {
    model = await ViTModel.load(device, bytes, { label: 'fuzz', batch: loadBatch, ...(kernels ? { kernels } : {}), tune: false });
  } catch (e) {
    // A forced variant that cannot run this model's shapes may be refused (naming it); nothing else may.
    if (kernels && e instanceof WebvitError && (e.code === 'DEVICE_LIMITS' || e.code === 'BAD_CONFIG') && /kernels\./.test(e.message)) {
      t.refuse(`${e.code} (forced variant)`);
      return;
    }
    throw new Error(`${what}: a valid model failed to load: ${(e as Error)?.stack ?? e}`);
  }
  t.loaded++;
  try {
    const s = shapeOf(spec.config);
    for (const r of runs) {
      const what2 = `${what}; batch ${r.batch}, input scale ${r.scale.toExponential(1)}, input seed ${r.seed}`;
      const input = pixels(r.seed, r.batch * s.imageValues, r.scale);
      let out: Awaited<ReturnType<ViTModel['forward']>> | undefined;
      let err: unknown;
      try {
        out = await model.forward(input, { features: true });
      } catch (e) {
        err = e;
      }
      const want = vitForwardRef(read, input, r.batch);
      if (err !== undefined) {
        if (!(err instanceof WebvitError)) throw new Error(`${what2}: forward threw a ${(err as Error)?.name}, not a WebvitError: ${(err as Error)?.stack ?? err}`);
        expect(err.message, `${what2}: one line`).not.toMatch(/\n/);
        // Where float64 overflows nothing is expected; otherwise the only excuse is float32's range.
        const refFinite = want.logits.every(Number.isFinite) && want.features.every(Number.isFinite);
        if (refFinite && !/overflow/i.test(err.message)) throw new Error(`${what2}: refused a finite input without naming an overflow: ${err.message}`);
        t.refuse(err.code);
        continue;
      }
      const o = out!;
      const [got, ref] = spec.config.num_classes > 0 ? [o.logits, want.logits] : [o.features!, want.features];
      const e = maxRelErr(got, ref);
      const ef = maxRelErr(o.features!, want.features);
      t.answers++;
      t.maxErr = Math.max(t.maxErr, e);
      if (!(e <= TOL)) throw new Error(`${what2}: ${spec.config.num_classes > 0 ? 'logits' : 'features'} off the float64 reference by ${e.toExponential(3)} of max |value| (tolerance ${TOL}); got ${[...got.slice(0, 6)].map((v) => v.toPrecision(5))} want ${[...ref.slice(0, 6)].map((v) => v.toPrecision(5))}`);
      if (!(ef <= TOL)) throw new Error(`${what2}: features off the float64 reference by ${ef.toExponential(3)} of max |feature| (tolerance ${TOL})`);
    }
  } finally {
    await model.dispose();
  }
}

describe('fuzz: the float64 reference itself', () => {
  // The reference is what every generated model is held to: first it must match PyTorch on the
  // fixtures that cover its branches (cls and mean pooling, fc_norm, no class token, a
  // distillation token, quick_gelu). float64 against float64, but the files hold float32 weights
  // (DeiT's two heads fused into one: 0.5·(b + b_dist) rounded to float32): within 1e-8 of max |logit|.
  const fixtures: [string, () => Promise<{ w: LoadedWeights; input: Float32Array; logits: number[][]; batch: number }>][] = [
    ...(['tiny', 'tiny_mean'] as const).map((name): [string, () => Promise<{ w: LoadedWeights; input: Float32Array; logits: number[][]; batch: number }>] => [
      name,
      async () => {
        const f = loadFixture(name);
        return { w: readWeights(f.model, name), input: f.input, logits: f.golden.logits, batch: f.golden.batch };
      },
    ]),
    ...(['timm_avg', 'timm_avg_nocls', 'deit'] as const).map((name): [string, () => Promise<{ w: LoadedWeights; input: Float32Array; logits: number[][]; batch: number }>] => [
      name,
      async () => {
        const { golden, input } = layoutGolden(name);
        const r = convertCheckpoint(await fixtureCheckpoint(name), await optionsFromArgs(golden.convert_args));
        return { w: r.weights, input, logits: golden.logits, batch: golden.batch };
      },
    ]),
    [
      'quick_gelu',
      async () => {
        const dir = join(import.meta.dirname, '..', 'fixtures', 'quick_gelu');
        const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { logits: number[][]; batch: number };
        const raw = readFileSync(join(dir, 'input.bin'));
        const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        return { w: convertCheckpoint(await readCheckpoint(dir)).weights, input, logits: golden.logits, batch: golden.batch };
      },
    ],
  ];
  for (const [name, load] of fixtures) {
    it(`matches PyTorch on ${name}`, async () => {
      const f = await load();
      const got = vitForwardRef(f.w, f.input, f.batch).logits;
      const err = maxRelErr(got, f.logits.flat());
      expect(err, `${name} (${describeConfig(f.w.config)})`).toBeLessThanOrEqual(1e-8);
    });
  }
});

describe('fuzz: generated valid models against the float64 reference', () => {
  it('random small configs, F32/F16 weights, odd batches: logits within 1e-4 of float64', async () => {
    const t = (tallies['valid models'] ??= new Tally());
    await check(
      'valid models',
      t,
      fc.asyncProperty(
        modelSpecArb,
        kernelsArb,
        fc.constantFrom(1, 2, 3, 5),
        fc.array(fc.record({ batch: fc.constantFrom(1, 2, 3, 5, 7), scale: fc.constantFrom(0.5, 1, 1, 2, 10), seed: fc.nat() }), { minLength: 1, maxLength: 2 }),
        async (spec, kernels, loadBatch, runs) => runCase(t, spec, kernels ?? undefined, loadBatch, runs),
      ),
      MODELS,
    );
  });

  it('inputs up to the edge of float32 (|x| to 3.4e38): the right answer or an error naming the overflow, never a finite wrong answer', async () => {
    const t = (tallies['overflow edge'] ??= new Tally());
    // Scales around where float32 squares overflow (|x| > 1.8e19: layernorm's variance) and sums
    // overflow (|x|·√K·|w| > 3.4e38), and the largest finite values.
    const scale = fc.constantFrom(1e4, 1e8, 1e12, 1e15, 1e16, 3e16, 1e18, 5e18, 2e19, 1e20, 1e25, 1e30, 1e35, 1e37, 1e38, 3e38);
    await check(
      'overflow edge',
      t,
      fc.asyncProperty(
        modelSpecArb,
        fc.array(fc.record({ batch: fc.constantFrom(1, 2, 3), scale, seed: fc.nat() }), { minLength: 2, maxLength: 3 }),
        async (spec, runs) => runCase(t, spec, undefined, runs[0].batch, runs),
      ),
      // The same seed draws the same models as the property above: their kernels are compiled
      // already, so this property costs forwards, not compiles.
      MODELS,
    );
  });
});
