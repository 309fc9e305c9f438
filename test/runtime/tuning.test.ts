import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTENTION } from '../../src/kernels/attention/definition.js';
import { ATTENTION_VARIANTS } from '../../src/kernels/attention/op.js';
import type { OpDefinition } from '../../src/kernels/definition.js';
import { unavailableReason, type OpNode } from '../../src/kernels/kernel.js';
import { LAYERNORM } from '../../src/kernels/layernorm/definition.js';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { MATMUL_VARIANTS } from '../../src/kernels/matmul/op.js';
import { addVariantForTest, adapterDefaults, checkForcedKernels, DEFAULT_CHOICE, variantNeeds } from '../../src/kernels/registry.js';
import { fileTuneStore } from '../../src/runtime/node-tune-store.js';
import { memoryTuneStore, tuneKernels, type TuneOptions, type TuneStore } from '../../src/runtime/tuning.js';
import { ViTModel } from '../../src/model/vit.js';
import { testDevice } from '../helpers/gpu.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture } from '../helpers/fixtures.js';
import { GELU_ACTIVATION } from '../../src/kernels/gelu/activation.js';

const slice = { buffer: {} as GPUBuffer, offset: 0, size: 1 << 20 };
/** The op node a builder sets on its dispatch: what the tuner reads off a graph. */
function node<S extends object>(def: OpDefinition<S>, shape: S): OpNode {
  return def.dispatch(shape, def.defaultVariant, new Proxy({}, { get: () => slice }), { label: 'test', maxWorkgroupStorage: 16384 }).op!;
}

// Two matmul shapes (token rows and a batch-1 classifier), one attention and one layernorm problem.
const mm50 = node(MATMUL, { M: 50, K: 48, N: 100, epilogue: GELU_ACTIVATION, bias: true });
const mm1 = node(MATMUL, { M: 1, K: 48, N: 10, epilogue: 'none', bias: true });
const attn = node(ATTENTION, { batch: 1, T: 50, heads: 3, headDim: 16 });
const ln = node(LAYERNORM, { rows: 50, D: 48, eps: 1e-6 });
const nodes = [ln, mm50, attn, mm1];

function countingStore(): TuneStore & { sets: number } {
  const inner = memoryTuneStore();
  const s = { sets: 0, get: inner.get, set: (k: string, v: string) => { s.sets++; inner.set(k, v); } };
  return s;
}

/** A timer that reports `fast` variants at their time in ms and every other one at 1 ms, timing nothing. */
function fakeTimes(fast: Record<string, number>, timed: string[] = []): TuneOptions['time'] {
  return async (op, variant) => (timed.push(`${op}/${variant}`), fast[`${op}/${variant}`] ?? 1);
}

const undo: (() => void)[] = [];
afterEach(() => undo.splice(0).forEach((f) => f()));

describe('kernel auto-tuning', () => {
  it('picks a real variant per problem, caches it, and does not tune again', async () => {
    const device = await testDevice();
    const store = countingStore();
    const first = await tuneKernels(device, nodes, store);
    for (const n of [mm50, mm1]) {
      const v = first.kernels(n)!;
      expect(Object.keys(MATMUL_VARIANTS)).toContain(v);
      expect(v).not.toBe('naive'); // reference variants are never picked
      const { M, K, N } = n.shape as { M: number; K: number; N: number };
      expect(first.chosen[`matmul ${M}x${K}x${N}`]).toBe(v);
    }
    expect(Object.keys(ATTENTION_VARIANTS)).toContain(first.kernels(attn));
    // In problem order: matmuls as the graph has them, then attention, then layernorm.
    expect(Object.keys(first.chosen)).toEqual(['matmul 50x48x100', 'matmul 1x48x10', 'attention 1x50x3x16', 'layernorm 50x48']);
    expect(store.sets).toBe(4);
    const again = await tuneKernels(device, nodes, store);
    expect(again.chosen).toEqual(first.chosen);
    expect(store.sets).toBe(4);
  });

  it('honours forced choices per op', async () => {
    const device = await testDevice();
    const store = countingStore();
    const c = await tuneKernels(device, nodes, store, { matmul: 'naive', attention: 'online_softmax_q32', layernorm: 'workgroup_row' });
    expect(c.kernels(mm50)).toBe('naive');
    expect(c.kernels(mm1)).toBe('naive');
    expect(c.kernels(attn)).toBe('online_softmax_q32');
    expect(store.sets).toBe(0);
  });

  it('ignores a cached value that names no variant (stale or corrupt cache)', async () => {
    const device = await testDevice();
    const store = memoryTuneStore();
    await tuneKernels(device, nodes, store);
    // Overwrite every cached entry with junk; tuning must not return it.
    const keys: string[] = [];
    const spy: TuneStore = { get: (k) => (keys.push(k), 'no_such_variant'), set: store.set };
    const c = await tuneKernels(device, nodes, spy);
    expect(keys.length).toBe(4);
    expect(Object.keys(MATMUL_VARIANTS)).toContain(c.kernels(mm50));
  });

  it('never offers a variant the device cannot run, and says why', () => {
    // A device without subgroups, and one whose subgroups may be as small as 4 lanes.
    const bare = { features: new Set<string>(), adapterInfo: {} } as unknown as GPUDevice;
    const small = { features: new Set(['subgroups']), adapterInfo: { subgroupMinSize: 4 } } as unknown as GPUDevice;
    expect(unavailableReason(bare, variantNeeds('matmul', 'subgroup_4x4'))).toMatch(/lacks the 'subgroups' feature/);
    expect(unavailableReason(bare, variantNeeds('attention', 'subgroup_bcast'))).toMatch(/subgroups/);
    expect(unavailableReason(bare, variantNeeds('matmul', 'register_4x4'))).toBeUndefined();
    expect(unavailableReason(small, variantNeeds('matmul', 'subgroup_4x4'))).toBeUndefined();
    expect(unavailableReason(small, variantNeeds('matmul', 'subgroup_8x4'))).toMatch(/at least 8 invocations.*as small as 4/);
    expect(ATTENTION_VARIANTS.subgroup_bcast.inapplicable({ headDim: 6 })).toMatch(/divisible by 4/);
    // Defaults on a bare adapter (taken for a GPU) are portable ones: few 64x64 tiles get the
    // K-split variant, many get tiled.
    const d = adapterDefaults(bare);
    expect([d.matmul(197, 384, 1152), d.matmul(6304, 768, 3072), d.attention(64), d.layernorm]).toEqual(['slicedk_16x64', 'tiled', 'online_softmax', 'workgroup_row']);
    // The tensor-core variants name each missing need.
    const sgmat = variantNeeds('matmul', 'sgmat_64x64');
    expect(sgmat.precision).toBe('f16');
    expect(unavailableReason(bare, sgmat)).toMatch(/lacks the 'shader-f16' feature/);
    const features = new Set(['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix']);
    const limits = { maxComputeWorkgroupStorageSize: 49152 };
    const amd = { features, limits, adapterInfo: { subgroupMinSize: 32, subgroupMaxSize: 64 } } as unknown as GPUDevice;
    expect(unavailableReason(amd, sgmat)).toMatch(/exactly 32 invocations.*32–64/);
    const int8Only = { features, limits, adapterInfo: { subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [{ componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 }] } } as unknown as GPUDevice;
    expect(unavailableReason(int8Only, sgmat)).toMatch(/no f16→f32 16×16×16 subgroup-matrix configuration/);
    const nvidia = { features, limits, adapterInfo: { subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }] } } as unknown as GPUDevice;
    expect(unavailableReason(nvidia, sgmat)).toBeUndefined();
    expect(unavailableReason({ ...nvidia, limits: { maxComputeWorkgroupStorageSize: 16384 } } as unknown as GPUDevice, variantNeeds('matmul', 'sgmat_128x128'))).toMatch(/bytes of workgroup memory; this device allows 16384/);
  });

  it('offers f16 variants only to precision f16, and refuses forcing one on an f32 model', async () => {
    const nvidiaLike = { features: new Set(['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix']), limits: { maxComputeWorkgroupStorageSize: 49152 }, adapterInfo: { subgroupMinSize: 32, subgroupMaxSize: 32 } } as unknown as GPUDevice;
    expect(() => checkForcedKernels(nvidiaLike, { matmul: 'sgmat_64x64' }, nodes, 'test')).toThrow(/rounds its operands to f16; load the model with precision: 'f16'/);
    expect(() => checkForcedKernels(nvidiaLike, { matmul: 'sgmat_64x64' }, nodes, 'test', 'f16')).not.toThrow();
    // Without a tune, f16 picks the tensor-core variants where they can run, f32 never does.
    const f16 = await tuneKernels(nvidiaLike, nodes, undefined, {}, { tune: false, precision: 'f16' });
    const f32 = await tuneKernels(nvidiaLike, nodes, undefined, {}, { tune: false });
    expect(Object.values(f16.chosen).filter((v) => v.startsWith('sgmat_')).length).toBeGreaterThan(0);
    expect(Object.values(f32.chosen).some((v) => v.startsWith('sgmat_'))).toBe(false);
  });

  it('a forced variant the model cannot use is refused at load with the reason', async () => {
    const device = await testDevice();
    const f = loadFixture('tiny');
    await expectWebvitError(() => ViTModel.load(device, f.model, { label: 'forced', kernels: { matmul: 'no_such' as never } }), 'BAD_CONFIG', [
      'kernels.matmul = "no_such" is not a variant of matmul',
      'known: naive, tiled',
    ]);
  });

  it('file store: round-trips, and treats a corrupt file as empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'webvit-tune-'));
    const path = join(dir, 'sub', 'tuning.json');
    const a = fileTuneStore(path);
    a.set('k', 'tiled');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ k: 'tiled' });
    expect(fileTuneStore(path).get('k')).toBe('tiled');
    writeFileSync(path, '{not json');
    expect(fileTuneStore(path).get('k')).toBeUndefined();
  });
});

// The tuner's gates, broken on purpose. Times come from a fake timer (TuneOptions.time), so which
// variant is "fastest" is decided by the test, not by the machine's noise; compiling, running and
// validating every candidate is real.
describe('tuning gates', () => {
  it('returns the fastest validated candidate, not the default (fails for a tuner that returns defaults)', async () => {
    const device = await testDevice();
    const defaults = adapterDefaults(device);
    // Variants that are neither DEFAULT_CHOICE nor this adapter's default for these problems.
    const fast: Record<string, number> = { 'matmul/tiled_32x64': 0.01, 'attention/online_softmax_q32': 0.01 };
    for (const v of ['matmul/tiled_32x64', 'attention/online_softmax_q32']) {
      expect(Object.values(DEFAULT_CHOICE)).not.toContain(v.split('/')[1]);
    }
    expect([defaults.matmul(50, 48, 100), defaults.matmul(1, 48, 10), defaults.attention(16)]).not.toContain('tiled_32x64');
    expect(defaults.attention(16)).not.toBe('online_softmax_q32');
    const lnFast = defaults.layernorm === 'workgroup_row' && unavailableReason(device, variantNeeds('layernorm', 'subgroup')) === undefined ? 'subgroup' : 'workgroup_row';
    fast[`layernorm/${lnFast}`] = 0.01;
    const r = await tuneKernels(device, nodes, memoryTuneStore(), {}, { time: fakeTimes(fast) });
    expect(r.chosen).toEqual({ 'matmul 50x48x100': 'tiled_32x64', 'matmul 1x48x10': 'tiled_32x64', 'attention 1x50x3x16': 'online_softmax_q32', 'layernorm 50x48': lnFast });
    expect([r.kernels(mm50), r.kernels(mm1), r.kernels(attn), r.kernels(ln)]).toEqual(['tiled_32x64', 'tiled_32x64', 'online_softmax_q32', lnFast]);
    expect(r.rejected).toEqual({});
  });

  it('never chooses a fast but subtly wrong variant, even when it is the fastest by far', async () => {
    const device = await testDevice();
    // register_4x4 with every output 1e-4 too large: 10× the matmul tolerance, far below anything
    // a classification would show. The fake timer makes it 100× faster than any other candidate.
    const good = MATMUL_VARIANTS.register_4x4;
    const code = (p: Parameters<typeof good.code>[0]) => {
      const c = good.code(p);
      const wrong = c.replaceAll(/(out\[[^\]]+\]) = y;/g, '$1 = y * 1.0001;');
      expect(wrong).not.toBe(c);
      return wrong;
    };
    undo.push(addVariantForTest('matmul', 'wrong_fast', { ...good, summary: 'test only: register_4x4 off by 1e-4', code }));
    const timed: string[] = [];
    const forced = { attention: 'online_softmax', layernorm: 'workgroup_row' } as const; // tune the matmuls only
    const r = await tuneKernels(device, nodes, memoryTuneStore(), forced, { time: fakeTimes({ 'matmul/wrong_fast': 0.01, 'matmul/register_4x4': 0.5 }, timed) });
    expect(r.kernels(mm50)).not.toBe('wrong_fast');
    expect(r.kernels(mm1)).not.toBe('wrong_fast');
    // It was a candidate, ran, disagreed with the default's output and was never timed.
    expect(r.rejected).toEqual({ 'matmul 50x48x100': ['wrong_fast'], 'matmul 1x48x10': ['wrong_fast'] });
    expect(timed).not.toContain('matmul/wrong_fast');
    // The same variant without the error wins: the gate, not the timing, kept it out.
    undo.push(addVariantForTest('matmul', 'right_fast', { ...good, summary: 'test only: register_4x4 under another name' }));
    const ok = await tuneKernels(device, nodes, memoryTuneStore(), forced, { time: fakeTimes({ 'matmul/wrong_fast': 0.01, 'matmul/right_fast': 0.02, 'matmul/register_4x4': 0.5 }) });
    expect([ok.kernels(mm50), ok.kernels(mm1)]).toEqual(['right_fast', 'right_fast']);
  });

  it('refuses a forced variant the device or the problem cannot run, and never offers it', async () => {
    const device = await testDevice();
    undo.push(addVariantForTest('matmul', 'huge_subgroups', { ...MATMUL_VARIANTS.register_4x4, summary: 'test only: needs subgroups no device has', minSubgroupSize: 1 << 20 }));
    await expectWebvitError(() => tuneKernels(device, nodes, memoryTuneStore(), { matmul: 'huge_subgroups' as never }), 'DEVICE_LIMITS', [
      'kernels.matmul = "huge_subgroups"', 'cannot run here', 'at least 1048576 invocations',
    ]);
    const f = loadFixture('tiny');
    await expectWebvitError(() => ViTModel.load(device, f.model, { label: 'forced', kernels: { matmul: 'huge_subgroups' as never } }), 'DEVICE_LIMITS', [
      'forced: kernels.matmul = "huge_subgroups" (matmul/huge_subgroups) cannot run here', 'at least 1048576 invocations', 'Force another variant',
    ]);
    // A variant that cannot split this head dim (6) is refused for that problem.
    const odd = node(ATTENTION, { batch: 1, T: 5, heads: 2, headDim: 6 });
    await expectWebvitError(() => tuneKernels(device, [odd], memoryTuneStore(), { attention: 'subgroup_bcast' }), 'DEVICE_LIMITS', ['attention/subgroup_bcast', 'divisible by 4 (got 6)']);
    // Unforced, it is no candidate: never compiled, timed or chosen, however fast it would be.
    const timed: string[] = [];
    const r = await tuneKernels(device, [mm1], memoryTuneStore(), {}, { time: fakeTimes({ 'matmul/huge_subgroups': 0.001 }, timed) });
    expect(r.kernels(mm1)).not.toBe('huge_subgroups');
    expect(timed.length).toBeGreaterThan(0);
    expect(timed).not.toContain('matmul/huge_subgroups');
  });
});
