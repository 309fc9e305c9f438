/**
 * The one seeded generator behind every kernel input that is not a model's: the tests (a fresh
 * seed per test, printed on failure), the kernel benchmark and the tuner (fixed seeds) all draw
 * their inputs from an op definition's `sample(shape, rng(seed))`.
 */

/** mulberry32: small, fast, good enough for test data. Uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal float32 values (Box-Muller, both outputs of each pair), times scale, plus shift. */
export function randn(rand: () => number, n: number, scale = 1, shift = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = shift + scale * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = shift + scale * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}
