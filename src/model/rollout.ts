// The rollout row on its own: the page's explain() needs it at load (src/web/engine.ts), and the
// rest of explain_budget.ts (the budget, its constants) then stays in the explain chunk.

/**
 * One image's map, [N] patch columns, in float64: the starting row v (e_0 for 'cls'; the mean of
 * the patch rows e_P..e_{T−1} for 'mean'; for an attention-pooling head, its probe's attention
 * over the tokens, head-averaged: `start`), then
 * - rollout (layer undefined): v ← v·R_l for l = L−1 down to 0, R_l = norm_rows(0.5·Ā[l] + 0.5·I),
 *   which is row v of R_{L−1}·…·R_0 without forming the product;
 * - one layer: v·Ā[layer] (raw attention, no identity).
 */
export function rolloutRow(attention: readonly Float32Array[], b: number, T: number, P: number, pooling: 'cls' | 'mean' | ArrayLike<number>, layer?: number): Float32Array {
  let v = new Float64Array(T);
  if (typeof pooling !== 'string') v.set(pooling);
  else if (pooling === 'cls') v[0] = 1;
  else for (let i = P; i < T; i++) v[i] = 1 / (T - P);
  const layers = layer === undefined ? attention.map((_, l) => l).reverse() : [layer];
  for (const l of layers) {
    const A = attention[l];
    const base = b * T * T;
    const next = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      const vi = v[i];
      if (vi === 0) continue;
      const row = base + i * T;
      if (layer !== undefined) {
        for (let j = 0; j < T; j++) next[j] += vi * A[row + j];
        continue;
      }
      // Row i of R = (0.5·Ā[i, :] + 0.5·e_i) / (0.5·Σ_j Ā[i, j] + 0.5)
      let sum = 0;
      for (let j = 0; j < T; j++) sum += A[row + j];
      const w = vi / (0.5 * sum + 0.5);
      for (let j = 0; j < T; j++) next[j] += 0.5 * w * A[row + j];
      next[i] += 0.5 * w;
    }
    v = next;
  }
  return Float32Array.from(v.subarray(P));
}
