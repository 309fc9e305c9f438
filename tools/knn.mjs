// k-nearest-neighbour classification by dot product (cosine similarity once the rows are
// L2-normalised with normalise()), pure functions on Float32Array rows. Used by
// tools/knn_fashion_mnist.mjs; test/tools/knn.test.ts checks it against a float64 brute force.
//
// The search runs in blocks (a block of queries against a block of gallery rows, so both stay in
// cache), four queries against two gallery rows at a time, and keeps a running top-k per query.
// Each dot product is summed in JavaScript doubles in the order d = 0 … dim−1: the products of
// two float32 values are exact in float64, so every similarity is exactly the one a float64
// brute force summing in the same order gets, and the neighbours and votes are identical to it.
//
// Order of the neighbours: similarity descending, then gallery index ascending (of two equal
// similarities the earlier gallery row is nearer). Vote of the k nearest: most neighbours; a tie
// in count goes to the class whose tied neighbours' similarities sum highest (summed in neighbour
// order); a tie in that too goes to the smallest label.

/**
 * `data` (rows of `dim` values) with every row scaled to unit L2 norm, as a new Float32Array.
 * A row of zeros stays zeros (it is similar to nothing: its dot products are 0).
 * @param {Float32Array} data
 * @param {number} dim
 * @returns {Float32Array}
 */
export function normalise(data, dim) {
  checkRows(data, dim, 'data');
  const out = new Float32Array(data.length);
  for (let o = 0; o < data.length; o += dim) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += data[o + d] * data[o + d];
    if (ss === 0) continue;
    const inv = 1 / Math.sqrt(ss);
    for (let d = 0; d < dim; d++) out[o + d] = data[o + d] * inv;
  }
  return out;
}

/**
 * Classifies each query row by a majority vote of its k most similar gallery rows, for each k in
 * `ks` (similarity: dot product; pass normalise()d rows for cosine similarity).
 * @param {Float32Array} gallery rows of `dim` values
 * @param {ArrayLike<number>} galleryLabels one non-negative integer per gallery row
 * @param {Float32Array} queries rows of `dim` values
 * @param {number} dim
 * @param {number[]} ks each 1 ≤ k ≤ gallery rows
 * @param {{ queryBlock?: number, galleryBlock?: number, onProgress?: (done: number, total: number) => void }} [options]
 *   block sizes in rows (defaults 256 and 1024); onProgress after each block of queries
 * @returns {{ predictions: Int32Array[], neighbours: Int32Array, similarities: Float64Array, maxK: number }}
 *   predictions[i]: the label chosen for each query with k = ks[i]; neighbours and similarities:
 *   [queries × maxK], each query's maxK nearest gallery rows, nearest first
 */
export function knnClassify(gallery, galleryLabels, queries, dim, ks, options = {}) {
  checkRows(gallery, dim, 'gallery');
  checkRows(queries, dim, 'queries');
  const ng = gallery.length / dim;
  const nq = queries.length / dim;
  if (galleryLabels.length !== ng) throw new RangeError(`knnClassify: ${galleryLabels.length} gallery labels for ${ng} gallery rows`);
  let numLabels = 0;
  for (let i = 0; i < ng; i++) {
    const l = galleryLabels[i];
    if (!Number.isInteger(l) || l < 0) throw new RangeError(`knnClassify: gallery label ${i} is ${l}, not a non-negative integer`);
    if (l >= numLabels) numLabels = l + 1;
  }
  if (!Array.isArray(ks) || ks.length === 0) throw new RangeError('knnClassify: ks must be a non-empty array of k values');
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1 || k > ng) throw new RangeError(`knnClassify: k = ${k}; each k must be an integer from 1 to the gallery's ${ng} rows`);
  }
  const queryBlock = blockSize(options.queryBlock, 256, 'queryBlock');
  const galleryBlock = blockSize(options.galleryBlock, 1024, 'galleryBlock');
  const K = Math.max(...ks);
  const sims = new Float64Array(nq * K).fill(-Infinity);
  const idx = new Int32Array(nq * K).fill(-1);

  /** Inserts gallery row g with similarity s into query q's list if it beats the K-th. */
  const offer = (q, s, g) => {
    const base = q * K;
    if (!(s > sims[base + K - 1])) return;
    let j = K - 1;
    // Strictly less: an equal similarity already there came from a smaller gallery index.
    while (j > 0 && sims[base + j - 1] < s) {
      sims[base + j] = sims[base + j - 1];
      idx[base + j] = idx[base + j - 1];
      j--;
    }
    sims[base + j] = s;
    idx[base + j] = g;
  };

  for (let q0 = 0; q0 < nq; q0 += queryBlock) {
    const q1 = Math.min(nq, q0 + queryBlock);
    for (let g0 = 0; g0 < ng; g0 += galleryBlock) {
      const g1 = Math.min(ng, g0 + galleryBlock);
      let q = q0;
      for (; q + 4 <= q1; q += 4) {
        const a = q * dim;
        const b = a + dim;
        const c = b + dim;
        const e = c + dim;
        // Two gallery rows a pass (8 dot products: each value loaded serves 2 or 4 of them),
        // offered in gallery order. A row that does not beat a query's K-th is not offered to it.
        let g = g0;
        for (; g + 2 <= g1; g += 2) {
          const o = g * dim;
          const p = o + dim;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let t0 = 0;
          let t1 = 0;
          let t2 = 0;
          let t3 = 0;
          for (let d = 0; d < dim; d++) {
            const x = gallery[o + d];
            const y = gallery[p + d];
            const qa = queries[a + d];
            const qb = queries[b + d];
            const qc = queries[c + d];
            const qe = queries[e + d];
            s0 += qa * x;
            s1 += qb * x;
            s2 += qc * x;
            s3 += qe * x;
            t0 += qa * y;
            t1 += qb * y;
            t2 += qc * y;
            t3 += qe * y;
          }
          if (s0 > sims[q * K + K - 1]) offer(q, s0, g);
          if (t0 > sims[q * K + K - 1]) offer(q, t0, g + 1);
          if (s1 > sims[(q + 1) * K + K - 1]) offer(q + 1, s1, g);
          if (t1 > sims[(q + 1) * K + K - 1]) offer(q + 1, t1, g + 1);
          if (s2 > sims[(q + 2) * K + K - 1]) offer(q + 2, s2, g);
          if (t2 > sims[(q + 2) * K + K - 1]) offer(q + 2, t2, g + 1);
          if (s3 > sims[(q + 3) * K + K - 1]) offer(q + 3, s3, g);
          if (t3 > sims[(q + 3) * K + K - 1]) offer(q + 3, t3, g + 1);
        }
        for (; g < g1; g++) {
          const o = g * dim;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let d = 0; d < dim; d++) {
            const x = gallery[o + d];
            s0 += queries[a + d] * x;
            s1 += queries[b + d] * x;
            s2 += queries[c + d] * x;
            s3 += queries[e + d] * x;
          }
          if (s0 > sims[q * K + K - 1]) offer(q, s0, g);
          if (s1 > sims[(q + 1) * K + K - 1]) offer(q + 1, s1, g);
          if (s2 > sims[(q + 2) * K + K - 1]) offer(q + 2, s2, g);
          if (s3 > sims[(q + 3) * K + K - 1]) offer(q + 3, s3, g);
        }
      }
      for (; q < q1; q++) {
        const a = q * dim;
        for (let g = g0; g < g1; g++) {
          const o = g * dim;
          let s = 0;
          for (let d = 0; d < dim; d++) s += queries[a + d] * gallery[o + d];
          if (s > sims[q * K + K - 1]) offer(q, s, g);
        }
      }
    }
    options.onProgress?.(q1, nq);
  }

  const predictions = ks.map(() => new Int32Array(nq));
  const votes = new Int32Array(numLabels);
  const sum = new Float64Array(numLabels);
  for (let q = 0; q < nq; q++) {
    const base = q * K;
    for (const [i, k] of ks.entries()) {
      for (let j = 0; j < k; j++) {
        const l = galleryLabels[idx[base + j]];
        votes[l] = 0;
        sum[l] = 0;
      }
      for (let j = 0; j < k; j++) {
        const l = galleryLabels[idx[base + j]];
        votes[l]++;
        sum[l] += sims[base + j];
      }
      let best = -1;
      for (let j = 0; j < k; j++) {
        const l = galleryLabels[idx[base + j]];
        if (best < 0 || votes[l] > votes[best] || (votes[l] === votes[best] && (sum[l] > sum[best] || (sum[l] === sum[best] && l < best)))) best = l;
      }
      predictions[i][q] = best;
    }
  }
  return { predictions, neighbours: idx, similarities: sims, maxK: K };
}

function checkRows(data, dim, name) {
  if (!(data instanceof Float32Array)) throw new TypeError(`${name} must be a Float32Array`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) throw new RangeError(`${name}: ${data.length} values are not whole rows of ${dim}`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new RangeError(`${name}: row ${Math.floor(i / dim)} has ${data[i]} at ${i % dim}; values must be finite`);
  }
}

function blockSize(value, fallback, name) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`knnClassify: ${name} must be a positive integer, got ${value}`);
  return value;
}
