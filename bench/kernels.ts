import { variantNames, type CheckedOp, type VariantInfo } from '../src/kernels/definition.js';
import { allOps } from '../src/model/ops.js';
import { variantTol } from '../src/kernels/kernel.js';
import { rng } from '../src/kernels/sample.js';
import { VIT_PRESETS, type ViTConfig } from '../src/model/config.js';
import { FAMILY_PRESETS } from '../src/model/family_presets.js';
import { buildGraph } from '../src/model/graph.js';
import { registerAllOps } from '../src/kernels/all_ops.js';
import type { KernelCase } from './harness.js';

registerAllOps(); // the family ops (SigLIP's pooling head, DINOv2-g's SwiGLU gate) the model graphs below dispatch

/** The models `--model` names: ViT's presets, then each family's (FamilyModel.presets). */
export const BENCH_MODELS: Readonly<Record<string, ViTConfig>> = {
  ti16: VIT_PRESETS.vit_tiny_patch16_224 as ViTConfig,
  s16: VIT_PRESETS.vit_small_patch16_224 as ViTConfig,
  b16: VIT_PRESETS.vit_base_patch16_224 as ViTConfig,
  ...FAMILY_PRESETS,
};
export type BenchModel = string;

/** Every op of the registry (`--op`). */
export const BENCH_OPS: readonly string[] = allOps().map((d) => d.name);
export type BenchOp = string;

/** Computes a reference once and shares it between the variants of one shape. */
function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

/**
 * Every (op, variant, problem) of one model at one batch size. The problems are read off the
 * model's graph (each distinct node: `blocks.N.` layers share their shapes); an op the graph does
 * not run on its own (gelu, fused into fc1) runs on its definition's test shapes. Inputs, the
 * reference, the dispatch and the tolerance all come from the op's definition.
 */
export function kernelCases(model: BenchModel, batch: number, maxWorkgroupStorage: number, ops: readonly BenchOp[] = BENCH_OPS): KernelCase[] {
  const dummy = { buffer: undefined as unknown as GPUBuffer };
  const c = BENCH_MODELS[model];
  const graph = buildGraph({ ...c, num_classes: c.num_classes ?? 1000 }, () => dummy, { batch, maxWorkgroupStorage });
  const cases: KernelCase[] = [];
  let seed = 1;
  const add = (def: CheckedOp, shape: object, where: string) => {
    const inputs = def.sample(shape, rng(seed++));
    const reference = once(() => def.reference(shape, inputs));
    const table = def.variants as Record<string, VariantInfo>;
    for (const variant of variantNames(def)) {
      if (table[variant].inapplicable?.(shape)) continue;
      cases.push({
        op: def.name, variant, shape: `${model} b${batch} ${where}`, inputs, output: { name: 'out', length: def.outputLength(shape) }, tol: variantTol(def.tol, table[variant]), reference, needs: table[variant],
        make: (b) => def.dispatch(shape, variant, b, { label: `bench.${where}`, maxWorkgroupStorage }),
      });
    }
  };
  for (const def of allOps()) {
    if (!ops.includes(def.name)) continue;
    const seen = new Set<string>();
    const nodes = graph.dispatches.filter((d) => d.op?.name === def.name);
    for (const d of nodes) {
      const key = JSON.stringify(d.op!.shape);
      if (seen.has(key)) continue;
      seen.add(key);
      add(def, d.op!.shape, d.label.replace(/^blocks\.\d+\./, ''));
    }
    if (nodes.length === 0) for (const c of def.testShapes) add(def, c.shape, `test: ${c.name}`);
  }
  return cases;
}
