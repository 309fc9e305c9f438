import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf } from '../definition.js';
import { WebvitError } from '../../errors.js';
import { epilogueName, type MatmulEpilogue } from './epilogue.js';
import { MATMUL_VARIANTS, type MatmulVariant, type MatmulVariantDef } from './variants.js';

export type { MatmulEpilogue };
export { MATMUL_VARIANTS, type MatmulVariant };

/**
 * matmul: out[M, N] = epilogue(A[M, K]·W[K, N] + bias[N]) (+ residual[M, N]): the linear layers
 * of a transformer block and the classifier. Validates, picks the variant's WGSL builder by name
 * (variants.ts) and states the dispatch; the WGSL lives in the variant's file.
 */
export interface LinearArgs {
  label: string;
  /** Rows of A and out (tokens × images). */
  M: number;
  K: number;
  N: number;
  /** A [M, K], row-major f32. */
  a: Binding;
  /** W [K, N], row-major f32 (PyTorch's Linear weight transposed; see docs/weights-format.md). */
  w: Binding;
  /** bias [N]; omitted for layers without bias. */
  bias?: Binding;
  /** residual [M, N], added after bias when epilogue is 'residual'. */
  residual?: Binding;
  /** out [M, N]. Must not alias a or residual (WebGPU forbids it within one dispatch). */
  out: Binding;
  epilogue: MatmulEpilogue;
  /** Kernel variant (MATMUL_VARIANTS); default 'tiled'. */
  variant?: MatmulVariant;
  /** W is stored as IEEE half floats (two per u32); compute stays f32. */
  wHalf?: boolean;
}

/** A matmul problem as the definition, the tuner and the benchmark read it off a dispatch. */
export interface MatmulShape {
  M: number;
  K: number;
  N: number;
  epilogue: MatmulEpilogue;
  bias: boolean;
  wHalf?: boolean;
}

export function linear(args: LinearArgs): Dispatch {
  const { M, K, N } = args;
  for (const [name, v] of Object.entries({ M, K, N })) {
    if (!Number.isInteger(v) || v <= 0) throw new WebvitError('BAD_ARGUMENT', `${args.label}: matmul ${name} must be a positive integer, got ${v}`);
  }
  if ((args.epilogue === 'residual') !== (args.residual !== undefined)) {
    throw new WebvitError('BAD_ARGUMENT', `${args.label}: a residual buffer is needed exactly when the epilogue is 'residual'`);
  }
  const variant = args.variant ?? 'tiled';
  const v: MatmulVariantDef = variantOf('matmul', MATMUL_VARIANTS, variant, args.label);
  const bias = args.bias !== undefined;
  const wHalf = args.wHalf ?? false;
  const params = { vecA: K % 4 === 0, vecN: N % 4 === 0, wHalf, bias, epilogue: args.epilogue };
  // The key names the activation; its WGSL is fixed by its name.
  const key = { ...params, epilogue: epilogueName(args.epilogue) };
  const bindings: Record<string, Binding> = { a: args.a, w: args.w, out: args.out };
  if (args.bias) bindings.bias = args.bias;
  if (args.residual) bindings.residual = args.residual;
  return {
    label: args.label,
    source: variantSource('matmul', variant, key, v.later ? () => v.code(params) : v.code(params), v.later),
    op: { name: 'matmul', variant, shape: { M, K, N, epilogue: args.epilogue, bias, wHalf } satisfies MatmulShape, withVariant: (other) => linear({ ...args, variant: other as MatmulVariant }) },
    bindings,
    uniforms: { M, N, K },
    sizes: {
      a: 4 * M * K,
      w: Math.ceil(((wHalf ? 2 : 4) * K * N) / 4) * 4,
      out: 4 * M * N,
      ...(args.bias ? { bias: 4 * N } : {}),
      ...(args.residual ? { residual: 4 * M * N } : {}),
    },
    workgroups: [ceilDiv(N, v.block.cols), ceilDiv(M, v.block.rows), 1],
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + M * N * (args.residual ? 2 : 1) + (args.bias ? N : 0)) + (wHalf ? 2 : 4) * K * N,
  };
}
