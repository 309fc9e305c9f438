import { afterAll, describe, expect, it } from 'vitest';
import { adapterDefaults, isCpuAdapter, KERNEL_VARIANTS } from '../../src/kernels/registry.js';
import { setDefaultTuneStore, ViTModel, type LoadOptions } from '../../src/model/vit.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { memoryTuneStore, type TuneStore } from '../../src/runtime/tuning.js';
import type { LoadProgress } from '../../src/runtime/progress.js';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';

// First use of a model: what it reports (onProgress) and what it does without being asked to tune.
// - compile: every kernel new to the device is compiled and run once at load (CPU drivers compile
//   at first dispatch), reported 0..n in order; a second model on the same device compiles nothing.
// - no tune unless asked: without `tune`, nothing is timed and the adapter's defaults run (or a
//   choice cached by an earlier tune); with `tune: store`, each (op, shape) is reported and cached.
// Logits are held to the golden test's 1e-4 whatever the variants.
const TOL = 1e-4;
const f = loadFixture('tiny');
const devices: GPUDevice[] = [];
const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
  for (const d of devices) d.destroy();
});

/** A device of its own: its pipeline cache starts empty, so its first load compiles everything. */
async function freshDevice(): Promise<GPUDevice> {
  const d = await getNodeDevice();
  devices.push(d);
  return d;
}

async function loadWithEvents(device: GPUDevice, options: LoadOptions = {}): Promise<{ model: ViTModel; events: LoadProgress[] }> {
  const events: LoadProgress[] = [];
  const model = await ViTModel.load(device, f.model, { batch: 3, ...options, onProgress: (e) => events.push({ ...e }) });
  models.push(model);
  return { model, events };
}

/** Events of one stage: done 0 first, then up by one to total, total fixed. */
function expectCounted(events: LoadProgress[], stage: LoadProgress['stage']): LoadProgress[] {
  const mine = events.filter((e) => e.stage === stage);
  expect(mine.length, `${stage} events`).toBeGreaterThan(1);
  const total = mine[0].total;
  expect(mine[0].done).toBe(0);
  mine.forEach((e, i) => {
    expect(e.total, `${stage} event ${i}`).toBe(total);
    if (i > 0) expect(e.done, `${stage} event ${i}`).toBe(mine[i - 1].done + 1);
  });
  expect(mine.at(-1)!.done).toBe(total);
  return mine;
}

describe('load progress and first-use kernel choice', () => {
  it('compile: each new kernel reported once, in order; nothing the second time', async () => {
    const device = await freshDevice();
    const { model, events } = await loadWithEvents(device);
    const compile = expectCounted(events, 'compile');
    expect(compile[0].total).toBeGreaterThanOrEqual(5); // patch embed, layernorm, attention, matmuls, pool
    for (const e of compile.slice(1)) expect(e.detail, JSON.stringify(e)).toMatch(/^[a-z_]+\/[a-z0-9_]+/);
    expect(events.filter((e) => e.stage === 'tune')).toEqual([]);
    console.log(`first load: ${compile[0].total} kernels compiled: ${compile.slice(1).map((e) => e.detail).join(', ')}`);
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);

    const again = await loadWithEvents(device, { label: 'again' });
    expect(again.events).toEqual([]);
    expect(maxRelError((await again.model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });

  it("without tune: no tuning, the adapter's defaults (subgroup variants on a CPU adapter with subgroups)", async () => {
    const device = await freshDevice();
    const store = memoryTuneStore();
    setDefaultTuneStore(store);
    const { model, events } = await loadWithEvents(device);
    expect(events.filter((e) => e.stage === 'tune')).toEqual([]);
    const chosen = model.kernels(3)!;
    const d = adapterDefaults(device);
    for (const [what, v] of Object.entries(chosen)) {
      const [op, shape] = what.split(' ');
      const dims = shape.split('x').map(Number);
      const want = op === 'matmul' ? d.matmul(dims[0], dims[1], dims[2]) : op === 'attention' ? d.attention(dims[3]) : d.layernorm;
      expect(v, what).toBe(want);
    }
    if (isCpuAdapter(device) && device.features.has('subgroups')) {
      expect(Object.values(chosen)).toContain('subgroup_bcast');
      expect(Object.values(chosen)).toContain('subgroup');
    }
    console.log(`defaults on this adapter (cpu ${isCpuAdapter(device)}): ${JSON.stringify(chosen)}`);
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);
  });

  it('tune: a store: each (op, shape) reported and cached; a later load without tune uses the cache', async () => {
    const device = await freshDevice();
    const inner = memoryTuneStore();
    let sets = 0;
    const store: TuneStore = { get: inner.get, set: (k, v) => (sets++, inner.set(k, v)) };
    const { model, events } = await loadWithEvents(device, { tune: store });
    const tune = expectCounted(events, 'tune');
    expect(tune[0].total).toBe(sets);
    expect(tune.at(-1)!.detail).toMatch(/^(matmul|attention|layernorm) /);
    // Tuning comes first, then the chosen kernels are compiled.
    const stages = events.map((e) => e.stage);
    expect(stages.indexOf('compile')).toBeGreaterThan(stages.lastIndexOf('tune'));
    const tuned = model.kernels(3)!;
    for (const [what, v] of Object.entries(tuned)) expect(Object.keys(KERNEL_VARIANTS[what.split(' ')[0] as keyof typeof KERNEL_VARIANTS]), what).toContain(v);
    expect(maxRelError((await model.forward(f.input)).logits, f.golden.logits)).toBeLessThanOrEqual(TOL);

    setDefaultTuneStore(store);
    const later = await loadWithEvents(device, { label: 'later' });
    expect(later.events.filter((e) => e.stage === 'tune')).toEqual([]);
    expect(later.model.kernels(3)).toEqual(tuned);
    // tune: false ignores the cache.
    const plain = await loadWithEvents(device, { label: 'plain', tune: false });
    expect(plain.events.filter((e) => e.stage === 'tune')).toEqual([]);
  });
});
