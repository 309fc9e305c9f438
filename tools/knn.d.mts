/** `data` (rows of `dim` values) with every row scaled to unit L2 norm, as a new array; zero rows stay zero. */
export function normalise(data: Float32Array, dim: number): Float32Array;
export interface KnnOptions {
  /** Queries per block (default 256). */
  queryBlock?: number;
  /** Gallery rows per block (default 1024). */
  galleryBlock?: number;
  /** Called after each block of queries. */
  onProgress?: (done: number, total: number) => void;
}
export interface KnnResult {
  /** predictions[i]: the label chosen for each query with k = ks[i]. */
  predictions: Int32Array[];
  /** [queries × maxK]: each query's maxK nearest gallery rows, nearest first (ties: smaller index). */
  neighbours: Int32Array;
  /** [queries × maxK]: their similarities (float64 sums of float32 products). */
  similarities: Float64Array;
  maxK: number;
}
/** k-nearest-neighbour vote by dot product (cosine once the rows are normalise()d); see tools/knn.mjs. */
export function knnClassify(gallery: Float32Array, galleryLabels: ArrayLike<number>, queries: Float32Array, dim: number, ks: number[], options?: KnnOptions): KnnResult;
