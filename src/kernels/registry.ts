import { ATTENTION } from './attention/definition.js';
import { LAYERNORM } from './layernorm/definition.js';
import { MATMUL } from './matmul/definition.js';
import { PATCH_EMBED } from './patch_embed/definition.js';
import { POOL } from './pool/definition.js';
import { TOPK } from './topk/definition.js';
import { FINITE_CHECK } from './finite_check/definition.js';
import { variantNames, type OpDefinition, type Precision, type VariantInfo } from './definition.js';
import { unavailableReason, type Dispatch, type OpNode, type VariantNeeds } from './kernel.js';
import { checkDeviceFacts, WebvitError } from '../errors.js';
import type { EXPLAIN_OPS } from './explain_ops.js';
import type { FAMILY_OPS } from './family_ops.js';

export { isCpuAdapter } from './kernel.js';

/**
 * Every op a graph dispatches, described once (src/kernels/<op>/definition.ts). The tuner and the
 * forced-choice checks iterate over this list; the kernel tests and the benchmark iterate over it
 * plus the activations (src/model/ops.ts: activations are fused into the matmul, so the list of
 * them is the config's MLP_ACTIVATIONS). Order: the tunable ops first, as the tuner reports them.
 */
export const OPS = [MATMUL, ATTENTION, LAYERNORM, PATCH_EMBED, POOL, TOPK, FINITE_CHECK] as const;

/**
 * Ops whose definitions load later, with the plan or the model that dispatches them (the explain
 * ops: src/kernels/explain_ops.ts; some families' ops: src/kernels/family_ops.ts), by name: a
 * variant forced for one is checked once it is registered.
 */
export const DEFERRED_OPS: readonly string[] = ['attention_explain', 'attention_probs', 'attention_pool', 'swiglu'];
const registered: OpDefinition[] = [];

/** Registers ops that load later (DEFERRED_OPS), once; called by the module that dispatches them. */
export function registerOps(defs: readonly OpDefinition[]): void {
  for (const d of defs) if (!registered.includes(d)) registered.push(d);
}

/** The definition of op `name` (a deferred one once registered), or undefined. */
export function opDefinition(name: string): OpDefinition | undefined {
  return (OPS as readonly OpDefinition[]).find((d) => d.name === name) ?? registered.find((d) => d.name === name);
}

type Op = (typeof OPS)[number];
type DeferredOp = (typeof EXPLAIN_OPS)[number] | (typeof FAMILY_OPS)[number];
type VariantsOf<D> = D extends OpDefinition<infer _S, infer V, infer _N> ? V : never;

/** Variant tables by op name: `KERNEL_VARIANTS.matmul.tiled_32x64.summary`. */
export const KERNEL_VARIANTS = Object.fromEntries(OPS.map((d) => [d.name, d.variants])) as {
  [D in Op as D['name']]: D['variants'];
};

/** A forced variant per op (LoadOptions.kernels, `--kernels matmul=tiled`); the rest are tuned or default. */
export type KernelChoice = { [D in Op | DeferredOp as D['name']]?: VariantsOf<D> };

/**
 * The portable variants: they need nothing beyond core WebGPU, every builder defaults to them, and
 * the tuner validates every candidate against their output. What a model runs without tuning is
 * each op's `tuning.preferred` (adapterDefaults).
 */
export const DEFAULT_CHOICE = Object.fromEntries(OPS.map((d) => [d.name, d.defaultVariant])) as Required<Pick<KernelChoice, Op['name']>>;

/** What a variant needs from the device (see unavailableReason in kernel.ts). */
export function variantNeeds(op: string, variant: string): VariantNeeds {
  const v = (opDefinition(op)?.variants as Record<string, VariantInfo> | undefined)?.[variant];
  if (!v) throw new WebvitError('BAD_ARGUMENT', `no variant ${op}/${variant}; known ops: ${OPS.map((d) => d.name).join(', ')}`);
  return v;
}

/**
 * The variants a model runs when nothing is tuned or cached, per op (each op's
 * `tuning.preferred`, where the measurements behind it are written down): good on this kind of
 * adapter without a tune, and runnable on this device.
 */
export function adapterDefaults(device: GPUDevice): { matmul: (M: number, K: number, N: number) => VariantsOf<typeof MATMUL>; attention: (headDim: number) => VariantsOf<typeof ATTENTION>; layernorm: VariantsOf<typeof LAYERNORM> } {
  checkDeviceFacts(device, 'adapterDefaults');
  return {
    matmul: (M, K, N) => MATMUL.tuning!.preferred(device, { M, K, N, epilogue: 'none', bias: true }),
    attention: (headDim) => ATTENTION.tuning!.preferred(device, { batch: 1, T: 1, heads: 1, headDim }),
    layernorm: LAYERNORM.tuning!.preferred(device, { rows: 1, D: 1, eps: 1e-6 }),
  };
}

/** Which variant a graph node runs (undefined: its builder's default). Made by the tuner. */
export type GraphKernels = (node: OpNode) => string | undefined;

/** The graph's dispatches with the chosen variants swapped in (same labels, bindings and shapes). */
export function applyKernels(dispatches: Dispatch[], kernels: GraphKernels | undefined): Dispatch[] {
  if (!kernels) return dispatches;
  return dispatches.map((d) => {
    const v = d.op && kernels(d.op);
    return v && v !== d.op!.variant ? d.op!.withVariant(v) : d;
  });
}

/**
 * Refuses forced variants that are unknown (BAD_CONFIG) or that this device or one of the graph's
 * problems cannot run (DEVICE_LIMITS), naming the op, the variant and the reason.
 */
export function checkForcedKernels(device: GPUDevice, forced: Record<string, string | undefined>, nodes: readonly { name: string; shape: object }[], label: string, precision: Precision = 'f32'): void {
  for (const [op, variant] of Object.entries(forced)) {
    if (variant === undefined) continue;
    const def = opDefinition(op);
    // Checked when its plan is made and the op registered (explain.ts): not a reason to load its kernels now.
    if (!def && DEFERRED_OPS.includes(op)) continue;
    const table = def?.variants as Record<string, VariantInfo> | undefined;
    if (!table || !Object.hasOwn(table, variant)) {
      throw new WebvitError('BAD_CONFIG', `${label}: kernels.${op} = "${variant}" is not a variant of ${op}; known: ${table ? Object.keys(table).join(', ') : `ops ${[...OPS.map((d) => d.name), ...DEFERRED_OPS].join(', ')}`}`);
    }
    const v = table[variant];
    if (v.precision === 'f16' && precision !== 'f16') {
      throw new WebvitError('BAD_CONFIG', `${label}: kernels.${op} = "${variant}" rounds its operands to f16; load the model with precision: 'f16' (CLI --precision f16) to use it, or force an f32 variant`);
    }
    const why = unavailableReason(device, v) ?? nodes.filter((n) => n.name === op).map((n) => v.inapplicable?.(n.shape)).find((w) => w !== undefined);
    if (why) throw new WebvitError('DEVICE_LIMITS', `${label}: kernels.${op} = "${variant}" (${op}/${variant}) cannot run here: ${why}. Force another variant or leave ${op} to the tuner.`);
  }
}

/**
 * Test seam: adds `variant` to op `op` under `name` until the returned function is called. The
 * entry must be shaped like the op's own (a matmul variant has `code` and `block`). Tests use it
 * to break the tuner's gates on purpose: a fast but wrong variant, an unavailable one.
 */
export function addVariantForTest(op: string, name: string, variant: VariantInfo & { [field: string]: unknown }): () => void {
  const def = opDefinition(op);
  if (!def) throw new WebvitError('BAD_ARGUMENT', `addVariantForTest: no op ${op}`);
  const table = def.variants as Record<string, VariantInfo>;
  if (Object.hasOwn(table, name)) throw new WebvitError('BAD_ARGUMENT', `addVariantForTest: ${op}/${name} exists`);
  table[name] = variant;
  return () => void delete table[name];
}

export { variantNames };
