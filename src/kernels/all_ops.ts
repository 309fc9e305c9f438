import { FAMILY_OPS } from './family_ops.js';
import { registerOps } from './registry.js';
import { QUANT_READS } from './matmul/quant_read.js';
import { registerWeightReads } from './matmul/weight_read.js';

/**
 * Registers the ops the browser bundle loads on demand with a model that needs them (the family
 * ops: loadGraphOps in src/model/graph.ts; the int8 and q4 weight readers: quantWeights), for Node entry points (the CLI, the Node library, the
 * benchmark), where nothing is fetched late: synchronous helpers that build a graph
 * (estimateActivationBytes, the kernel benchmark's problems) then work for every family. A call,
 * not an import for its side effect: the package is marked "sideEffects": false.
 */
export function registerAllOps(): void {
  registerOps(FAMILY_OPS);
  registerWeightReads(QUANT_READS);
}
