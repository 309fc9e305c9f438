import { ERF_GELU_WGSL } from '../wgsl_math.js';
import { ceilDiv, sourceKey, type Binding, type Dispatch, type VariantNeeds } from '../kernel.js';
import { DEFAULT_TILE, tiledMatmulWgsl, type TiledMatmulShape } from './tiled.js';
import { naiveLinearSource } from './naive.js';
import { registerBlock, registerLinearSource, subgroupLoadLanes, type RegisterLayout } from './register.js';
import { WebvitError } from '../../errors.js';
import type { MatmulEpilogue } from './epilogue.js';

export type { MatmulEpilogue };

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

/**
 * Matmul variants. Every one runs through the same tests (test/kernels/matmul.test.ts).
 *   naive        v0: one output per invocation, scalar global loads (the baseline)
 *   tiled        v1: 64×64 tile, BK 16, 4×4 outputs per invocation, vec4 loads (default)
 *   tiled_32x64  v2: as v1 with 32-row tiles: twice the workgroups for small M (batch 1)
 *   tiled_bk32   v3: as v1 with 32-wide K slices: half the barriers per K
 *   register_4x4 v4: 4×4 outputs per invocation straight from global memory, no workgroup
 *                    memory or barriers (relies on the cache; wins where barriers are costly)
 *   subgroup_4x4 v5: as v4, but a workgroup shares its rows: each row's vec4 of A is read by one
 *                    lane per subgroup and subgroupBroadcast to the rest (needs 'subgroups')
 *   subgroup_8x4 v6: as v5 with 8 rows per invocation (subgroups of at least 8)
 *   subgroup_16x4 v7: as v6 with 16 rows (two rows of A per loading lane)
 *   subgroup_8x8 v8: as v6 with 8 columns (two vec4) per invocation
 */
/** A subgroup variant: `rows` × 4·`vec4s` outputs per invocation, `wg` invocations per workgroup. */
function subgroupVariant(rows: number, vec4s: number, wg: number) {
  return {
    summary: `${rows}x${4 * vec4s} per invocation, rows of A shared by subgroupBroadcast`,
    tile: undefined,
    register: { source: 'subgroup', rows, vec4s, wg } as RegisterLayout,
    requires: 'subgroups' as GPUFeatureName,
    minSubgroupSize: subgroupLoadLanes(rows),
  };
}

export const MATMUL_VARIANTS = {
  naive: { summary: 'one output per invocation, scalar loads', tile: undefined },
  tiled: { summary: '64x64 tile, BK 16, 4x4 per invocation, vec4', tile: DEFAULT_TILE },
  tiled_32x64: { summary: '32x64 tile, BK 16, 4x4 per invocation, vec4', tile: { BM: 32, BN: 64, BK: 16 } },
  tiled_bk32: { summary: '64x64 tile, BK 32, 4x4 per invocation, vec4', tile: { BM: 64, BN: 64, BK: 32 } },
  register_4x4: { summary: '4x4 per invocation from global memory, no workgroup memory', tile: undefined, register: { source: 'grid', rows: 4, vec4s: 1 } },
  subgroup_4x4: subgroupVariant(4, 1, 64),
  subgroup_8x4: subgroupVariant(8, 1, 64),
  subgroup_16x4: subgroupVariant(16, 1, 64),
  subgroup_8x8: subgroupVariant(8, 2, 32),
} satisfies Record<string, { summary: string; tile: TiledMatmulShape | undefined; register?: RegisterLayout } & VariantNeeds>;

export type MatmulVariant = keyof typeof MATMUL_VARIANTS;

export interface LinearSourceParams {
  tile: TiledMatmulShape;
  vecA: boolean;
  vecN: boolean;
  wHalf: boolean;
  bias: boolean;
  epilogue: MatmulEpilogue;
}

/** out = epilogue(A·W + bias): the linear layers of a transformer block and the classifier. */
export function linearSource(p: LinearSourceParams) {
  const kernel = 'matmul/tiled';
  const v = p.vecN ? 'vec4<f32>' : 'f32';
  const idx = p.vecN ? '(row * params.N + col) / 4u' : 'row * params.N + col';
  const bindings = [
    `@group(0) @binding(?) var<storage, read> a: array<${p.vecA ? 'vec4<f32>' : 'f32'}>; // [M, K]`,
    ...(p.bias ? [`@group(0) @binding(?) var<storage, read> bias: array<${v}>; // [N]`] : []),
    ...(p.epilogue === 'residual' ? [`@group(0) @binding(?) var<storage, read> residual: array<${v}>; // [M, N]`] : []),
    `@group(0) @binding(?) var<storage, read_write> out: array<${v}>; // [M, N]`,
  ];
  const loadA = p.vecA
    ? `fn load_a(row: u32, k: u32) -> vec4<f32> { return a[(row * params.K + k) / 4u]; }`
    : `fn load_a(row: u32, k: u32) -> f32 { return a[row * params.K + k]; }`;
  const store = [
    `var y = v;`,
    p.bias ? `y += bias[${p.vecN ? 'col / 4u' : 'col'}];` : '',
    p.epilogue === 'gelu' ? `y = ${p.vecN ? 'gelu4' : 'gelu'}(y);` : '',
    p.epilogue === 'residual' ? `y += residual[${idx}];` : '',
    `out[${idx}] = y;`,
  ]
    .filter(Boolean)
    .join('\n        ');
  const code = tiledMatmulWgsl(
    { tile: p.tile, vecA: p.vecA, vecN: p.vecN, wHalf: p.wHalf },
    { params: [], bindings, loadA, store, helpers: p.epilogue === 'gelu' ? ERF_GELU_WGSL : '' },
  );
  return { kernel, key: sourceKey(kernel, { ...p, tile: `${p.tile.BM}x${p.tile.BN}x${p.tile.BK}` }), code };
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
  const tile = MATMUL_VARIANTS[variant]?.tile;
  if (!(variant in MATMUL_VARIANTS)) throw new WebvitError('BAD_ARGUMENT', `${args.label}: unknown matmul variant ${variant}; known: ${Object.keys(MATMUL_VARIANTS).join(', ')}`);
  const bias = args.bias !== undefined;
  const wHalf = args.wHalf ?? false;
  const vecA = K % 4 === 0;
  const vecN = N % 4 === 0;
  let source;
  let grid: [number, number, number];
  if (tile) {
    source = linearSource({ tile, vecA, vecN, wHalf, bias, epilogue: args.epilogue });
    grid = [ceilDiv(N, tile.BN), ceilDiv(M, tile.BM), 1];
  } else if ('register' in MATMUL_VARIANTS[variant]) {
    const layout = (MATMUL_VARIANTS[variant] as { register: RegisterLayout }).register;
    const block = registerBlock(layout);
    source = registerLinearSource({ vecA, vecN, wHalf, bias, epilogue: args.epilogue, layout });
    grid = [ceilDiv(N, block.cols), ceilDiv(M, block.rows), 1];
  } else {
    source = naiveLinearSource({ bias, epilogue: args.epilogue, wHalf });
    grid = [ceilDiv(N, 16), ceilDiv(M, 16), 1];
  }
  const bindings: Record<string, Binding> = { a: args.a, w: args.w, out: args.out };
  if (args.bias) bindings.bias = args.bias;
  if (args.residual) bindings.residual = args.residual;
  return {
    label: args.label,
    source,
    bindings,
    uniforms: { M, N, K },
    sizes: {
      a: 4 * M * K,
      w: Math.ceil(((args.wHalf ? 2 : 4) * K * N) / 4) * 4,
      out: 4 * M * N,
      ...(args.bias ? { bias: 4 * N } : {}),
      ...(args.residual ? { residual: 4 * M * N } : {}),
    },
    workgroups: grid,
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + M * N * (args.residual ? 2 : 1) + (args.bias ? N : 0)) + (args.wHalf ? 2 : 4) * K * N,
  };
}
