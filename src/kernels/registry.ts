import { ATTENTION_VARIANTS } from './attention/op.js';
import { MATMUL_VARIANTS } from './matmul/op.js';
import { LAYERNORM_VARIANTS } from './layernorm/op.js';
import type { VariantNeeds } from './kernel.js';

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
