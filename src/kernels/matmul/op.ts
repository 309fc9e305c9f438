import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf } from '../definition.js';
import { WebvitError } from '../../errors.js';
import { epilogueName, type MatmulEpilogue } from './epilogue.js';
import { weightBytes, weightRead, type WeightStorage } from './weight_read.js';
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
  /**
   * How W is stored (weight_read.ts; default f32): IEEE halves two per u32, or int8 / q4 codes
   * (quant.ts) with their scales in `wScale`. Compute stays f32.
   */
  wStorage?: WeightStorage;
  /** int8: f32 scales [N]; q4: f16 scales [ceil(K / 32), N], two per u32. */
  wScale?: Binding;
}

/** A matmul problem as the definition, the tuner and the benchmark read it off a dispatch. */
export interface MatmulShape {
  M: number;
  K: number;
  N: number;
  epilogue: MatmulEpilogue;
  bias: boolean;
  wStorage?: WeightStorage;
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
  const w = args.wStorage ?? 'f32';
  const scale = weightRead(w).scale;
  if (!scale !== !args.wScale) throw new WebvitError('BAD_ARGUMENT', `${args.label}: a wScale binding is needed exactly for quantised weights (wStorage ${w})`);
  const params = { vecA: K % 4 === 0, vecN: N % 4 === 0, w, bias, epilogue: args.epilogue };
  // The key names the activation; its WGSL is fixed by its name.
  const key = { ...params, epilogue: epilogueName(args.epilogue) };
  const bindings: Record<string, Binding> = { a: args.a, w: args.w, out: args.out };
  if (args.bias) bindings.bias = args.bias;
  if (args.residual) bindings.residual = args.residual;
  if (args.wScale) bindings.wscale = args.wScale;
  return {
    label: args.label,
    source: variantSource('matmul', variant, key, v.later ? () => v.code(params) : v.code(params), v.later),
    op: { name: 'matmul', variant, shape: { M, K, N, epilogue: args.epilogue, bias, wStorage: w } satisfies MatmulShape, withVariant: (other) => linear({ ...args, variant: other as MatmulVariant }) },
    bindings,
    uniforms: { M, N, K },
    sizes: {
      a: 4 * M * K,
      w: weightBytes(w, K, N),
      ...(scale ? { wscale: scale.bytes(K, N) } : {}),
      out: 4 * M * N,
      ...(args.bias ? { bias: 4 * N } : {}),
      ...(args.residual ? { residual: 4 * M * N } : {}),
    },
    workgroups: [ceilDiv(N, v.block.cols), ceilDiv(M, v.block.rows), 1],
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + M * N * (args.residual ? 2 : 1) + (args.bias ? N : 0)) + weightBytes(w, K, N) + (scale?.bytes(K, N) ?? 0),
  };
}
