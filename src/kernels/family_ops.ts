import { ATTENTION_POOL } from './attention_pool/definition.js';
import { SWIGLU } from './swiglu/definition.js';

/**
 * The ops only some model families dispatch (SigLIP's attention-pooling head, the SwiGLU gate of
 * DINOv2's giant sizes). They are registered when a model that needs them loads (loadGraphOps in
 * src/model/graph.ts, registerOps in registry.ts), not with the forward ops: their WGSL then loads
 * with the on-demand chunk (src/on_demand.ts) on pages that run such a model, and not with every
 * page that classifies with a plain ViT.
 */
export const FAMILY_OPS = [ATTENTION_POOL, SWIGLU] as const;
