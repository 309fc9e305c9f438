import { elementwiseChecks } from '../kernels/activation.js';
import { ATTENTION_CHECKS } from '../kernels/attention/checks.js';
import { ATTENTION_POOL_CHECKS } from '../kernels/attention_pool/checks.js';
import { ATTENTION_EXPLAIN_CHECKS } from '../kernels/attention_explain/checks.js';
import { ATTENTION_PROBS_CHECKS } from '../kernels/attention_probs/checks.js';
import type { CheckedOp, OpChecks, OpDefinition } from '../kernels/definition.js';
import { FINITE_CHECK_CHECKS } from '../kernels/finite_check/checks.js';
import { LAYERNORM_CHECKS } from '../kernels/layernorm/checks.js';
import { MATMUL_CHECKS } from '../kernels/matmul/checks.js';
import { PATCH_EMBED_CHECKS } from '../kernels/patch_embed/checks.js';
import { POOL_CHECKS } from '../kernels/pool/checks.js';
import { OPS } from '../kernels/registry.js';
import { EXPLAIN_OPS } from '../kernels/explain_ops.js';
import { FAMILY_OPS } from '../kernels/family_ops.js';
import { SWIGLU_CHECKS } from '../kernels/swiglu/checks.js';
import { TOPK_CHECKS } from '../kernels/topk/checks.js';
import { MLP_ACTIVATIONS } from './config.js';

type Op = (typeof OPS)[number] | (typeof EXPLAIN_OPS)[number] | (typeof FAMILY_OPS)[number];

/**
 * The checks of every registered op (src/kernels/<op>/checks.ts), by name: a new op in OPS fails
 * to compile here until it has its checks. Test-side only: nothing the browser bundle loads
 * imports this module.
 */
const CHECKS: { [D in Op as D['name']]: D extends OpDefinition<infer S, infer V> ? OpChecks<S, V> : never } = {
  matmul: MATMUL_CHECKS,
  attention: ATTENTION_CHECKS,
  layernorm: LAYERNORM_CHECKS,
  patch_embed: PATCH_EMBED_CHECKS,
  pool: POOL_CHECKS,
  topk: TOPK_CHECKS,
  finite_check: FINITE_CHECK_CHECKS,
  attention_pool: ATTENTION_POOL_CHECKS,
  swiglu: SWIGLU_CHECKS,
  attention_explain: ATTENTION_EXPLAIN_CHECKS,
  attention_probs: ATTENTION_PROBS_CHECKS,
};

/**
 * Every op webvit has a definition for, with its checks (test shapes, float64 reference): the
 * registry's (what a graph dispatches) and the activations a config can name (fused into fc1, and
 * each also a standalone elementwise op). The kernel tests and the kernel benchmark run all of them.
 */
export function allOps(): readonly CheckedOp[] {
  return [
    ...([...OPS, ...EXPLAIN_OPS, ...FAMILY_OPS] as readonly OpDefinition[]).map((d) => ({ ...d, ...(CHECKS as Record<string, OpChecks>)[d.name] })),
    ...Object.values(MLP_ACTIVATIONS).map((d) => ({ ...d, ...elementwiseChecks(d.activation) }) as CheckedOp),
  ];
}
