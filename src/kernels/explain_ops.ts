import { ATTENTION_EXPLAIN } from './attention_explain/definition.js';
import { ATTENTION_PROBS } from './attention_probs/definition.js';

/**
 * The ops only the explain plan dispatches (src/model/explain.ts). They are registered when that
 * plan is first made (registerOps in registry.ts), not with the forward ops: their WGSL (8 KB of
 * the minified browser bundle) then loads with the explain chunk, on a page's first explain(),
 * and not with every page that classifies.
 */
export const EXPLAIN_OPS = [ATTENTION_EXPLAIN, ATTENTION_PROBS] as const;
