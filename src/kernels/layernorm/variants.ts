import type { VariantInfo } from '../definition.js';
import { layerNormCode } from './two_pass.js';

export interface LayerNormVariantDef extends VariantInfo {
  code(): string;
}

/**
 * Layernorm variants (two_pass.ts: same algorithm, different reductions):
 *   workgroup_row  128 invocations per row, tree reduction in workgroup memory (8 barriers per sum)
 *   subgroup       64 invocations per row, subgroupAdd then one workgroup step (1 barrier per sum)
 */
export const LAYERNORM_VARIANTS = {
  workgroup_row: { summary: 'tree reduction in workgroup memory, 128 invocations per row (default)', code: () => layerNormCode(false) },
  subgroup: { summary: 'subgroupAdd + one workgroup step, 64 invocations per row (needs subgroups)', code: () => layerNormCode(true), requires: 'subgroups' as GPUFeatureName },
} satisfies Record<string, LayerNormVariantDef>;

export type LayerNormVariant = keyof typeof LAYERNORM_VARIANTS;
