import { loadLater } from '../../src/kernels/matmul/variants.js';
import { variantNames, type OpDefinition, type VariantInfo } from '../../src/kernels/definition.js';
import type { Activation } from '../../src/kernels/activation.js';
import type { Dispatch, KernelSource } from '../../src/kernels/kernel.js';
import { MATMUL } from '../../src/kernels/matmul/definition.js';
import { resampleHSource, resampleVSource } from '../../src/kernels/preprocess/op.js';
import { presetConfig, VIT_PRESETS, type ViTConfig, type ViTPresetName } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';
import { allOps } from '../../src/model/ops.js';
import { registerWeightReads, type WeightStorage } from '../../src/kernels/matmul/weight_read.js';
import { QUANT_READS } from '../../src/kernels/matmul/quant_read.js';

// Every WGSL source webvit can hand the runtime to compile, made without a device: each op's
// every variant on every test shape of its definition (test/kernels/ops.test.ts), each activation
// fused into every matmul variant, both preprocessing kernels for both channel modes, and the graphs of every preset plus the config switches that change
// a graph (pooling, prefix tokens, fc_norm, activation, bias, grayscale, no head, half, int8 and q4 weights),
// each node in every variant it can run. Deduplicated by cache key, which covers everything that
// changes the code (asserted by the test that uses this).
const slice = { buffer: {} as GPUBuffer, offset: 0, size: 1 << 20 };
const anyBuffers = new Proxy({}, { get: () => slice });
const ctx = { label: 'corpus', maxWorkgroupStorage: 16384 };

function opSources(): KernelSource[] {
  const out: KernelSource[] = [];
  for (const def of allOps()) {
    const table = def.variants as Record<string, VariantInfo>;
    for (const variant of variantNames(def)) {
      for (const c of def.testShapes) {
        if (c.only && !c.only.includes(variant)) continue;
        if (table[variant].inapplicable?.(c.shape)) continue;
        out.push(def.dispatch(c.shape, variant, anyBuffers, ctx).source);
      }
    }
  }
  const activations = (allOps() as readonly (OpDefinition & { activation?: Activation })[]).flatMap((d) => (d.activation ? [d.activation] : []));
  for (const act of activations) {
    for (const variant of variantNames(MATMUL)) {
      for (const [M, K, N] of [[65, 48, 68], [37, 49, 10]]) {
        for (const bias of [true, false]) out.push(MATMUL.dispatch({ M, K, N, epilogue: act, bias }, variant, anyBuffers, ctx).source);
      }
    }
  }
  return out;
}

/** The configs whose graphs are reflected: every preset, and switches on a small one. */
export function corpusConfigs(): { name: string; config: ViTConfig }[] {
  const presets = (Object.keys(VIT_PRESETS) as ViTPresetName[]).map((name) => ({ name, config: presetConfig(name) }));
  const small = (name: string, o: Partial<ViTConfig>) => ({ name, config: presetConfig('vit_tiny_patch16_224', { num_layers: 1, ...o }) });
  return [
    ...presets,
    small('mean pooling, fc_norm', { pooling: 'mean', class_token: false, fc_norm: true }),
    small('distilled', { distilled: true }),
    small('quick_gelu, no qkv bias', { hidden_act: 'quick_gelu', qkv_bias: false }),
    small('grayscale 28px, no head', { image_size: 28, patch_size: 7, num_channels: 1, num_classes: 0 }),
    // The bundled model's shape (models/fashion-mnist): head dim 32, MLP 256, 10 classes.
    small('fashion-mnist', { image_size: 28, patch_size: 7, num_channels: 1, hidden_size: 128, num_heads: 4, mlp_size: 256, num_classes: 10 }),
  ];
}

/** A graph's dispatches for `config`, with every matmul weight stored as `storage`. */
export function graphDispatches(config: ViTConfig, batch: number, storage: WeightStorage): Dispatch[] {
  registerWeightReads(QUANT_READS);
  const all = { get: () => storage } as unknown as ReadonlyMap<string, WeightStorage>;
  return buildGraph(config, () => slice, { batch, maxWorkgroupStorage: 16384, storage: all, scale: () => slice }).dispatches;
}

function graphSources(): KernelSource[] {
  const out: KernelSource[] = [];
  for (const { config } of corpusConfigs()) {
    for (const storage of ['f32', 'f16', 'int8', 'q4'] as const) {
      for (const d of graphDispatches(config, 2, storage)) {
        out.push(d.source);
        const def = allOps().find((o) => o.name === d.op?.name);
        if (!def) continue;
        const table = def.variants as Record<string, VariantInfo>;
        for (const v of variantNames(def)) if (!table[v].inapplicable?.(d.op!.shape)) out.push(d.op!.withVariant(v).source);
      }
    }
  }
  return out;
}

function preprocessSources(): KernelSource[] {
  return (['rgb', 'grayscale'] as const).flatMap((c) => [resampleHSource(c), resampleVSource(c)]);
}

/**
 * Every distinct kernel source (by cache key). Throws if one key maps to two different codes.
 * Async: the big_* and sgmat_* builders load later (src/kernels/matmul/variants.ts, LATER).
 */
export async function wgslCorpus(): Promise<KernelSource[]> {
  await loadLater();
  const byKey = new Map<string, KernelSource>();
  for (const s of [...opSources(), ...graphSources(), ...preprocessSources()]) {
    const had = byKey.get(s.key);
    if (had && had.code !== s.code) throw new Error(`cache key ${s.key} covers two different WGSL sources`);
    byKey.set(s.key, s);
  }
  return [...byKey.values()];
}
