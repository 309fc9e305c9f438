/**
 * Seeded random inputs for kernel tests. Each test draws a fresh seed (or takes WEBVIT_SEED to
 * replay one) and every failure message carries it. The generator itself is the one the benchmark
 * and the tuner use (src/kernels/sample.ts).
 */
export { randn, rng } from '../../src/kernels/sample.js';

export function freshSeed(): number {
  const fixed = process.env.WEBVIT_SEED;
  return fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}
