import type { VariantInfo } from '../definition.js';
import type { LinearCodeParams } from './epilogue.js';
import type { doubleBufferedLinearCode } from './double_buffered.js';
import type { subgroupMatrixLinearCode } from './subgroup_matrix.js';
import { bigTileInvocations, bigTileStorage, FRAGMENT, SUBGROUP_MATRIX_LANES, subgroupMatrixBlock, subgroupMatrixInvocations, subgroupMatrixStorage, type BigTile, type SubgroupMatrixTile } from './tile_shapes.js';
import { WebvitError } from '../../errors.js';
import { naiveLinearCode } from './naive.js';
import { registerBlock, registerLinearCode, subgroupLoadLanes, type RegisterLayout } from './register.js';
import { DEFAULT_TILE, type TiledMatmulShape } from './tiled.js';
import { tiledLinearCode } from './tiled_linear.js';
import { slicedKInvocations, slicedKLinearCode, slicedKStorage, type SlicedKTile } from './sliced_k.js';

/**
 * A matmul variant: its WGSL builder (`code`, in the file named after its family) and the output
 * block one workgroup covers (`block`, for the grid). Every variant runs through the same tests
 * (test/kernels/ops.test.ts, shapes in definition.ts) and compiles as `matmul/<name>`.
 */
export interface MatmulVariantDef extends VariantInfo {
  code(p: LinearCodeParams): string;
  block: { rows: number; cols: number };
  /** Set for a variant whose WGSL builder loads later: `code` works once this has resolved (LATER). */
  later?: () => Promise<unknown>;
}

/**
 * The WGSL builders of the two families a page seldom runs: big_* (tuning candidates for large
 * problems on data-centre GPUs) and sgmat_* (precision 'f16' where the adapter has subgroup
 * matrices). They are 7.7 KB of minified code that a page would otherwise download on every
 * visit, so they come with the on-demand chunk (src/on_demand.ts): a kernel source of theirs
 * carries `ready` (loadLater), which the pipeline cache awaits before it reads the WGSL.
 */
const LATER: { big?: typeof doubleBufferedLinearCode; sgmat?: typeof subgroupMatrixLinearCode } = {};

/** Loads the builders of LATER (once). */
export async function loadLater(): Promise<void> {
  const m = await import('../../on_demand.js');
  LATER.big = m.doubleBufferedLinearCode;
  LATER.sgmat = m.subgroupMatrixLinearCode;
}

function later<K extends keyof typeof LATER>(k: K): NonNullable<(typeof LATER)[K]> {
  const f = LATER[k];
  if (!f) throw new WebvitError('BAD_ARGUMENT', `internal: matmul ${k}_* WGSL read before loadLater() resolved (a KernelSource's ready was not awaited)`);
  return f as NonNullable<(typeof LATER)[K]>;
}

function tiled(summary: string, tile: TiledMatmulShape): MatmulVariantDef {
  return { summary, code: (p) => tiledLinearCode(tile, p), block: { rows: tile.BM, cols: tile.BN } };
}

function register(summary: string, layout: RegisterLayout): MatmulVariantDef {
  const sg = layout.source === 'subgroup';
  return {
    summary,
    code: (p) => registerLinearCode(layout, p),
    block: registerBlock(layout),
    ...(sg ? { requires: 'subgroups' as GPUFeatureName, minSubgroupSize: subgroupLoadLanes(layout.rows) } : {}),
  };
}

/**
 * A big_* variant (double_buffered.ts). Its two buffers must fit WebGPU's default 16 KiB of
 * workgroup memory and 256 invocations, so it needs nothing beyond core WebGPU.
 */
function big(summary: string, tile: BigTile): MatmulVariantDef {
  if (bigTileStorage(tile) > 16384 || bigTileInvocations(tile) > 256) throw new Error(`matmul big tile ${tile.BM}x${tile.BN}x${tile.BK} exceeds WebGPU's default workgroup limits`);
  return { summary, code: (p) => later('big')(tile, p), later: loadLater, block: { rows: tile.BM, cols: tile.BN } };
}

/** A slicedk_* variant (sliced_k.ts): within the same default limits. */
function slicedK(summary: string, tile: SlicedKTile): MatmulVariantDef {
  if (slicedKStorage(tile) > 16384 || slicedKInvocations(tile) > 256) throw new Error(`matmul sliced-K tile ${tile.BM}x${tile.BN}x${tile.S} exceeds WebGPU's default workgroup limits`);
  return { summary, code: (p) => slicedKLinearCode(tile, p), block: { rows: tile.BM, cols: tile.BN } };
}

/**
 * A sgmat_* variant (subgroup_matrix.ts): tensor cores through subgroup matrices, f16 operands and
 * f32 accumulation, so only for `precision: 'f16'` models. Needs shader-f16, subgroups of 32 and
 * Dawn's subgroup-matrix feature with its f16→f32 16×16×16 configuration (NVIDIA with the Dawn
 * flags of README's GPU section); workgroup memory above 16 KiB for the larger tiles.
 */
function sgmat(summary: string, tile: SubgroupMatrixTile): MatmulVariantDef {
  if (subgroupMatrixInvocations(tile) > 256) throw new Error(`matmul subgroup-matrix tile needs more than 256 invocations`);
  return {
    summary,
    code: (p) => later('sgmat')(tile, p),
    later: loadLater,
    block: subgroupMatrixBlock(tile),
    requires: ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[],
    subgroupSize: SUBGROUP_MATRIX_LANES,
    subgroupMatrix: { componentType: 'f16', resultComponentType: 'f32', M: FRAGMENT, N: FRAGMENT, K: FRAGMENT },
    workgroupStorage: subgroupMatrixStorage(tile),
    precision: 'f16',
  };
}

/** The sgmat_* variants' tiles (also run through the emulated kernel by test/kernels/subgroup_matrix.test.ts). */
export const SGMAT_TILES = {
  sgmat_32x64: { SR: 1, SC: 2, FM: 2, FN: 2, BK: 32 },
  sgmat_64x64: { SR: 2, SC: 2, FM: 2, FN: 2, BK: 32 },
  sgmat_128x64: { SR: 4, SC: 2, FM: 2, FN: 2, BK: 32 },
  sgmat_128x128: { SR: 4, SC: 2, FM: 2, FN: 4, BK: 32 },
} satisfies Record<string, SubgroupMatrixTile>;

/** A subgroup variant: `rows` × 4·`vec4s` outputs per invocation, `wg` invocations per workgroup. */
const subgroup = (rows: number, vec4s: number, wg: number, change: string) =>
  register(`as subgroup_4x4 ${change}; rows of A shared by subgroupBroadcast`, { source: 'subgroup', rows, vec4s, wg });

/**
 * Matmul variants, each named after its algorithm; the summary says what it changes.
 *   naive         (naive.ts)        the plain baseline the others are measured against
 *   tiled*        (tiled_linear.ts over tiled.ts)  workgroup-memory tiles: the portable default
 *   register_4x4  (register.ts, layout 'grid')     no workgroup memory, no barriers
 *   subgroup_*    (register.ts, layout 'subgroup') as register_4x4, rows of A shared by subgroupBroadcast
 *   big_*         (double_buffered.ts)             large tiles, 8x8 per invocation, double-buffered (for GPUs)
 *   slicedk_*     (sliced_k.ts)                    small tiles, K split across a workgroup's invocations (few rows, long K)
 *   sgmat_*       (subgroup_matrix.ts)             tensor cores via subgroup matrices, f16 operands (precision 'f16' only)
 */
export const MATMUL_VARIANTS = {
  naive: { summary: 'one output per invocation, scalar loads straight from global memory (baseline)', code: naiveLinearCode, block: { rows: 16, cols: 16 }, baseline: true },
  tiled: tiled('64x64 tile in workgroup memory, BK 16, 4x4 outputs per invocation, vec4 loads (default)', DEFAULT_TILE),
  tiled_32x64: tiled('as tiled with 32-row tiles: twice the workgroups for small M (batch 1)', { BM: 32, BN: 64, BK: 16 }),
  tiled_bk32: tiled('as tiled with 32-wide K slices: half the barriers per K', { BM: 64, BN: 64, BK: 32 }),
  register_4x4: register('4x4 outputs per invocation straight from global memory: no workgroup memory or barriers', { source: 'grid', rows: 4, vec4s: 1 }),
  subgroup_4x4: register('as register_4x4, a workgroup shares its rows: each row of A read by one lane per subgroup and subgroupBroadcast (needs subgroups)', { source: 'subgroup', rows: 4, vec4s: 1, wg: 64 }),
  subgroup_8x4: subgroup(8, 1, 64, 'with 8 rows per invocation (subgroups of at least 8)'),
  subgroup_16x4: subgroup(16, 1, 64, 'with 16 rows (two rows of A per loading lane)'),
  subgroup_8x8: subgroup(8, 2, 32, 'with 8 rows and 8 columns (two vec4) per invocation'),
  big_128x64: big('128x64 tile, 8x8 outputs per invocation (128 invocations), BK 8 in two workgroup buffers: the next K slice loads while this one is multiplied, one barrier per slice (12 KiB)', { BM: 128, BN: 64, BK: 8 }),
  slicedk_16x64: slicedK('16x64 tile, 4x4 outputs per invocation, K split over 4 slices of 64 invocations (8 k each per 32-wide step), partials summed in workgroup memory before the epilogue: 4x the workgroups of tiled_32x64 for few rows', { BM: 16, BN: 64, S: 4, BK: 8 }),
  slicedk_32x64: slicedK('as slicedk_16x64 with 32x64 tiles and 2 slices of 16 k', { BM: 32, BN: 64, S: 2, BK: 16 }),
  big_128x128: big('as big_128x64 with 128x128 tiles (256 invocations, 16 KiB): twice the reuse of each A load', { BM: 128, BN: 128, BK: 8 }),
  sgmat_32x64: sgmat('f16 subgroup matrices (tensor cores), f32 accumulation: 32x64 tile, 2 subgroups of 2x2 16x16 fragments, for few rows (batch 1) (precision f16 only)', SGMAT_TILES.sgmat_32x64),
  sgmat_64x64: sgmat('f16 subgroup matrices (tensor cores), f32 accumulation: 64x64 tile, 4 subgroups of 2x2 16x16 fragments, K slices of 32 converted to f16 in workgroup memory (precision f16 only)', SGMAT_TILES.sgmat_64x64),
  sgmat_128x64: sgmat('as sgmat_64x64 with 128x64 tiles (8 subgroups): twice the reuse of each W slice', SGMAT_TILES.sgmat_128x64),
  sgmat_128x128: sgmat('as sgmat_64x64 with 128x128 tiles, 8 subgroups of 2x4 fragments (27 KiB of workgroup memory)', SGMAT_TILES.sgmat_128x128),
} satisfies Record<string, MatmulVariantDef>;

export type MatmulVariant = keyof typeof MATMUL_VARIANTS;
