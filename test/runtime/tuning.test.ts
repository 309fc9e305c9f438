import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTENTION_VARIANTS } from '../../src/kernels/attention/op.js';
import { MATMUL_VARIANTS } from '../../src/kernels/matmul/op.js';
import { fileTuneStore } from '../../src/runtime/node-tune-store.js';
import { memoryTuneStore, tuneKernels, type TuneStore } from '../../src/runtime/tuning.js';
import { testDevice } from '../helpers/gpu.js';
import { attentionInapplicable } from '../../src/kernels/attention/op.js';
import { unavailableReason } from '../../src/kernels/kernel.js';
import { variantNeeds } from '../../src/kernels/registry.js';
import { ViTModel } from '../../src/model/vit.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture } from '../helpers/fixtures.js';

// Two matmul shapes (token rows and a batch-1 classifier) and one attention shape.
const shape = { matmuls: [{ M: 50, K: 48, N: 100 }, { M: 1, K: 48, N: 10 }], attention: { batch: 1, T: 50, heads: 3, headDim: 16 }, layernorm: { rows: 50, D: 48 } };

function countingStore(): TuneStore & { sets: number } {
  const inner = memoryTuneStore();
  const s = { sets: 0, get: inner.get, set: (k: string, v: string) => { s.sets++; inner.set(k, v); } };
  return s;
}

describe('kernel auto-tuning', () => {
  it('picks a real variant per op, caches it, and does not tune again', async () => {
    const device = await testDevice();
    const store = countingStore();
    const first = await tuneKernels(device, shape, store);
    for (const { M, K, N } of shape.matmuls) {
      const v = first.kernels.matmul(M, K, N);
      expect(Object.keys(MATMUL_VARIANTS)).toContain(v);
      expect(v).not.toBe('naive'); // reference variants are never picked
      expect(first.chosen[`matmul ${M}x${K}x${N}`]).toBe(v);
    }
    expect(Object.keys(ATTENTION_VARIANTS)).toContain(first.kernels.attention);
    expect(store.sets).toBe(4);
    const again = await tuneKernels(device, shape, store);
    expect(again.chosen).toEqual(first.chosen);
    expect(store.sets).toBe(4);
  });

  it('honours forced choices per op', async () => {
    const device = await testDevice();
    const store = countingStore();
    const c = await tuneKernels(device, shape, store, { matmul: 'naive', attention: 'online_softmax_q32', layernorm: 'workgroup_row' });
    expect(c.kernels.matmul(50, 48, 100)).toBe('naive');
    expect(c.kernels.matmul(1, 48, 10)).toBe('naive');
    expect(c.kernels.attention).toBe('online_softmax_q32');
    expect(store.sets).toBe(0);
  });

  it('ignores a cached value that names no variant (stale or corrupt cache)', async () => {
    const device = await testDevice();
    const store = memoryTuneStore();
    await tuneKernels(device, shape, store);
    // Overwrite every cached entry with junk; tuning must not return it.
    const keys: string[] = [];
    const spy: TuneStore = { get: (k) => (keys.push(k), 'no_such_variant'), set: store.set };
    const c = await tuneKernels(device, shape, spy);
    expect(keys.length).toBe(4);
    expect(Object.keys(MATMUL_VARIANTS)).toContain(c.kernels.matmul(50, 48, 100));
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
    expect(attentionInapplicable('subgroup_bcast', 6)).toMatch(/divisible by 4/);
    expect(attentionInapplicable('online_softmax', 6)).toBeUndefined();
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
