import type { BufferSlice, Dispatch, VariantNeeds } from './kernel.js';
import { WebvitError } from '../errors.js';

/** A model's arithmetic: 'f32' (exact, the default) or 'f16' (f16 operands where a variant offers it). */
export type Precision = 'f32' | 'f16' | 'int8' | 'q4';

/**
 * One op, described once (src/kernels/<op>/definition.ts): its named variants, seeded inputs for a
 * shape, how to dispatch it on standalone buffers, the tolerance, and how the tuner reads a graph
 * node; what it is checked against (its test shapes and float64 reference: OpChecks) lies next to
 * it in src/kernels/<op>/checks.ts. The registry lists the definitions; the kernel tests, the
 * kernel benchmark, the tuner and the forced-choice checks iterate over it (the tests and the
 * benchmark with the checks: allOps(), src/model/ops.ts), so none of them holds a block per op.
 * See docs/adding-an-op.md.
 *
 * `S` is the op's problem shape (what its dispatch builder is called with, minus the buffers):
 * `{ M, K, N, epilogue, bias }` for a matmul. Every op writes one output, bound as `out`.
 */
export interface OpDefinition<S extends object = object, V extends string = string, N extends string = string> {
  /** The registry name, the `op` of every `op/variant` kernel name. */
  name: N;
  /** Named variants: same inputs, same output, same tests. */
  variants: Readonly<Record<V, VariantInfo<S>>>;
  /** The portable variant: core WebGPU only, the builder's default, what tuned candidates are checked against. */
  defaultVariant: V;
  /** Relative L2 tolerance against the float64 reference, for every variant (with why, at the definition). */
  tol: number;
  /** Seeded inputs for a shape, by binding name. */
  sample(shape: S, rand: () => number): Record<string, Float32Array>;
  /** Elements of `out`. */
  outputLength(shape: S): number;
  /** The dispatch of `variant` on standalone buffers named as `sample`'s inputs, plus `out`. */
  dispatch(shape: S, variant: V, buffers: Record<string, BufferSlice>, ctx: DispatchContext): Dispatch;
  /** Tunable ops only: how the tuner reads a graph node of this op. */
  tuning?: TuningSpec<S, V>;
}

/**
 * What an op is checked against (src/kernels/<op>/checks.ts): test-side only, so kept out of the
 * definition, which the browser bundle carries (the checks of all ops were 3.0 KB of it gzipped,
 * test/package/bundle_size.test.ts). Only allOps() (src/model/ops.ts) imports them, for the kernel
 * tests, the shader corpus and the benchmark.
 */
export interface OpChecks<S extends object = object, V extends string = string> {
  /** Shapes every variant runs through in the tests: exact tile fits and awkward ones (197 tokens, 1000 classes, odd sizes). */
  testShapes: readonly TestCase<S, V>[];
  /** float64 reference of `out` for the inputs `sample` drew. */
  reference(shape: S, inputs: Record<string, Float32Array>): Float64Array;
}

/** A definition with its checks: what allOps() lists. */
export type CheckedOp<S extends object = object, V extends string = string, N extends string = string> = OpDefinition<S, V, N> & OpChecks<S, V>;

export interface VariantInfo<S extends object = object> extends VariantNeeds {
  /** One line: what this variant changes against the op's first (reference) variant. */
  summary: string;
  /** Why this variant cannot compute `shape` (a head dim that is not a multiple of 4), or undefined. */
  inapplicable?(shape: S): string | undefined;
  /** A plain baseline (matmul/naive): tested and benchmarked, never a tuning candidate. */
  baseline?: boolean;
}

export interface TestCase<S extends object, V extends string> {
  name: string;
  shape: S;
  /** Run for these variants only (the default gets extra epilogue combinations, say); all when omitted. */
  only?: readonly V[];
}

/** What a standalone dispatch is labelled with and needs from the device. */
export interface DispatchContext {
  /** Labels the dispatch and its GPU objects: `test.matmul`, `bench.blocks.mlp.fc1`, `tune.attention`. */
  label: string;
  /** device.limits.maxComputeWorkgroupStorageSize */
  maxWorkgroupStorage: number;
}

export interface TuningSpec<S extends object, V extends string> {
  /**
   * 'shape': a variant per distinct problem (each matmul shape); 'graph': one variant for every
   * node of the op, chosen on its first node's problem (the block layernorms; the final one, a
   * few rows, rides along rather than costing a compile and a tune of its own).
   */
  per: 'shape' | 'graph';
  /** The problem timed for a node: drops what does not change the ranking (a matmul's epilogue). */
  problem(node: S): S;
  /** Cache key and name of a problem: `197x384x1536`. */
  key(problem: S): string;
  /** The problem actually timed: at most `maxRows` rows (time grows linearly beyond a few hundred). */
  timed(problem: S, maxRows: number): S;
  /**
   * What runs on this adapter without a tune or a cached choice (must be available and
   * applicable, and of the model's precision: an f16 variant only when `precision` is 'f16').
   */
  preferred(device: GPUDevice, problem: S, precision?: Precision): V;
}

/** Variant names of an op, in registry order. */
export function variantNames<V extends string>(def: OpDefinition<object, V>): V[] {
  return Object.keys(def.variants) as V[];
}

/** The variant entry of `name`, or a BAD_ARGUMENT naming the op, the variant and the known ones. */
export function variantOf<T>(op: string, table: Readonly<Record<string, T>>, name: string, label: string): T {
  if (!Object.hasOwn(table, name)) {
    throw new WebvitError('BAD_ARGUMENT', `${label}: unknown ${op} variant ${name}; known: ${Object.keys(table).join(', ')}`);
  }
  return table[name];
}
