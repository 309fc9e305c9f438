import type { OpDefinition } from '../kernels/definition.js';
import { OPS } from '../kernels/registry.js';
import { MLP_ACTIVATIONS } from './config.js';

/**
 * Every op webvit has a definition for: the registry's (what a graph dispatches) and the
 * activations a config can name (fused into fc1, and each also a standalone elementwise op). The
 * kernel tests and the kernel benchmark run all of them.
 */
export function allOps(): readonly OpDefinition[] {
  return [...(OPS as readonly OpDefinition[]), ...(Object.values(MLP_ACTIVATIONS) as readonly OpDefinition[])];
}
