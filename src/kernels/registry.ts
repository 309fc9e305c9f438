import { ATTENTION_VARIANTS, attentionInapplicable, type AttentionVariant } from './attention/op.js';
import { MATMUL_VARIANTS, type MatmulVariant } from './matmul/op.js';
import { LAYERNORM_VARIANTS, type LayerNormVariant } from './layernorm/op.js';
import { unavailableReason, type VariantNeeds } from './kernel.js';

/**
 * Every op and its named variants, with a one-line summary each. Names are `family_detail`
 * (tiled_32x64 belongs to the tiled family): the tuner skips the rest of a family whose first
 * member is 2× behind the best. The default is DEFAULT_CHOICE.
 * Variants of an op take the same arguments and run through the same tests; the model picks one
 * per op (`KernelChoice`).
 */
export const KERNEL_VARIANTS = {
  matmul: MATMUL_VARIANTS,
  attention: ATTENTION_VARIANTS,
  layernorm: LAYERNORM_VARIANTS,
} as const;

export type KernelChoice = {
  matmul?: keyof typeof MATMUL_VARIANTS;
  attention?: keyof typeof ATTENTION_VARIANTS;
  layernorm?: keyof typeof LAYERNORM_VARIANTS;
};

/**
 * The portable variants: they need nothing beyond core WebGPU, and the tuner validates every
 * candidate against their output. What a model runs without tuning is `adapterDefaults`.
 */
export const DEFAULT_CHOICE: Required<KernelChoice> = { matmul: 'tiled', attention: 'online_softmax', layernorm: 'workgroup_row' };

/**
 * What a graph is built with: a matmul variant per problem shape (layers differ: the classifier at
 * batch 1 is a matrix-vector product, fc2 has a long K), one attention variant.
 */
export interface GraphKernels {
  matmul: (M: number, K: number, N: number) => keyof typeof MATMUL_VARIANTS;
  attention: keyof typeof ATTENTION_VARIANTS;
  layernorm: keyof typeof LAYERNORM_VARIANTS;
}

/** The defaults, with forced choices applied: correct on every adapter, no tuning. */
export function defaultGraphKernels(forced: KernelChoice = {}): GraphKernels {
  const c = { ...DEFAULT_CHOICE, ...forced };
  return { matmul: () => c.matmul, attention: c.attention, layernorm: c.layernorm };
}

/** What a variant needs from the device (see unavailableReason in kernel.ts). */
export function variantNeeds<Op extends keyof typeof KERNEL_VARIANTS>(op: Op, variant: keyof (typeof KERNEL_VARIANTS)[Op]): VariantNeeds {
  return KERNEL_VARIANTS[op][variant] as VariantNeeds;
}

/**
 * Whether the adapter is a CPU implementation of Vulkan/WebGPU (lavapipe, SwiftShader, WARP):
 * WebGPU's fallback adapter, or one that says it is software.
 */
export function isCpuAdapter(device: GPUDevice): boolean {
  const info = (device as GPUDevice & { adapterInfo?: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } }).adapterInfo;
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  const text = `${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return /\b(software|llvmpipe|lavapipe|swiftshader|warp)\b/i.test(text);
}

/** Rows below which a matmul is a batch of matrix-vector products (the classifier at small batch). */
const SMALL_M = { cpu: 8, gpu: 32 };

/**
 * The variants a model runs when nothing is tuned or cached: good on this kind of adapter
 * without a tune (BENCHMARKS.md), and runnable on this device.
 * - CPU adapters (lavapipe, SwiftShader): the subgroup variants, which share loads through
 *   subgroupBroadcast instead of workgroup memory and barriers. On lavapipe the tuner picks
 *   subgroup_8x4/16x4/8x8 for the block matmuls and they differ by less than the machine's noise;
 *   subgroup_8x4 compiles in 0.4 s (16x4, 8x8, tiled: about 1 s). subgroup_bcast attention runs
 *   6–7× faster than online_softmax and compiles in half its time; subgroup layernorm 1.2–3.5×.
 *   Without subgroups, register_4x4 (no barriers: 2.5–6× faster than tiled there).
 * - GPUs: the tiled variants (workgroup-memory tiles are what GPUs are built for; not measured
 *   by this project on a GPU yet — `tune: true` measures).
 * - Few rows (M < 8 on CPUs, < 32 on GPUs: the classifier at a small batch): register_4x4; a
 *   64-row tile would waste all but M of its rows (20–50× slower than register_4x4 on lavapipe).
 */
export function adapterDefaults(device: GPUDevice): { matmul: (M: number, K: number, N: number) => MatmulVariant; attention: (headDim: number) => AttentionVariant; layernorm: LayerNormVariant } {
  const can = <Op extends keyof typeof KERNEL_VARIANTS>(op: Op, v: keyof (typeof KERNEL_VARIANTS)[Op]) => unavailableReason(device, variantNeeds(op, v)) === undefined;
  const cpu = isCpuAdapter(device);
  const big: MatmulVariant = !cpu ? 'tiled' : can('matmul', 'subgroup_8x4') ? 'subgroup_8x4' : can('matmul', 'subgroup_4x4') ? 'subgroup_4x4' : 'register_4x4';
  const smallM = cpu ? SMALL_M.cpu : SMALL_M.gpu;
  const sgAttention = cpu && can('attention', 'subgroup_bcast');
  return {
    matmul: (M) => (M < smallM ? 'register_4x4' : big),
    attention: (headDim) => (sgAttention && attentionInapplicable('subgroup_bcast', headDim) === undefined ? 'subgroup_bcast' : DEFAULT_CHOICE.attention),
    layernorm: cpu && can('layernorm', 'subgroup') ? 'subgroup' : DEFAULT_CHOICE.layernorm,
  };
}
