/**
 * The tile geometry of the big_* (double_buffered.ts) and sgmat_* (subgroup_matrix.ts) matmul
 * variants: what the variant table needs (grid block, invocations, workgroup memory) without
 * their WGSL builders, which a page loads only with the on-demand chunk (variants.ts, LATER).
 */

export interface BigTile {
  /** Output rows per workgroup (multiple of 8). */
  BM: number;
  /** Output columns per workgroup (multiple of 8). */
  BN: number;
  /** K slice per buffer (multiple of 4). */
  BK: number;
}

/** Workgroup memory the tile needs, in bytes: two buffers of BK×(BM+BN) floats. */
export const bigTileStorage = (t: BigTile): number => 2 * t.BK * (t.BM + t.BN) * 4;

/** Invocations per workgroup. */
export const bigTileInvocations = (t: BigTile): number => (t.BM / 8) * (t.BN / 8);

export interface SubgroupMatrixTile {
  /** Subgroup rows × columns in the workgroup. */
  SR: number;
  SC: number;
  /** 16×16 fragments per subgroup, down and across. */
  FM: number;
  FN: number;
  /** K slice staged per step (multiple of 16). */
  BK: number;
}

/** Invocations in a subgroup the kernel is written for. */
export const SUBGROUP_MATRIX_LANES = 32;
/** The subgroup-matrix shape used: f16 × f16 → f32, M = N = K = 16. */
export const FRAGMENT = 16;
/** Padding (in halves) of each staged row: keeps 16-byte alignment, spreads rows over memory banks. */
export const PAD = 8;

export const subgroupMatrixBlock = (t: SubgroupMatrixTile) => ({ rows: t.SR * t.FM * FRAGMENT, cols: t.SC * t.FN * FRAGMENT });
export const subgroupMatrixInvocations = (t: SubgroupMatrixTile): number => t.SR * t.SC * SUBGROUP_MATRIX_LANES;
/** Workgroup memory: the f16 A and W slices (padded rows) and one f32 fragment per subgroup. */
export function subgroupMatrixStorage(t: SubgroupMatrixTile): number {
  const { rows, cols } = subgroupMatrixBlock(t);
  return 2 * rows * (t.BK + PAD) + 2 * t.BK * (cols + PAD) + 4 * t.SR * t.SC * FRAGMENT * FRAGMENT;
}

