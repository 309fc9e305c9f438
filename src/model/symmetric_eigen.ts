import { WebvitError } from '../runtime/errors.js';

/**
 * Eigen-decomposition of a real symmetric matrix in float64: Householder reduction to tridiagonal
 * form (tred2) and the implicit QL algorithm (tql2), as in JAMA's EigenvalueDecomposition (public
 * domain; itself from EISPACK and Wilkinson & Reinsch's Handbook, Vol. II). About 6·n³ flops: a
 * 768×768 covariance (ViT-B/16's patch filters) takes a few seconds on one core.
 *
 * Written here rather than taken from a library because the analyses that use it are exported
 * from the browser entry too: ml-matrix (the usual choice, whose EVD is the same JAMA port) would
 * add its whole matrix class to the bundle for one function of ~150 lines.
 */
export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Unit eigenvectors, vectors[j] belonging to values[j] (orthonormal). */
  vectors: Float64Array[];
}

/** `a`: n×n row-major, symmetric (only its lower triangle is read). */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    throw new WebvitError('BAD_ARGUMENT', `symmetricEigen: expected an n×n matrix (n ≥ 1), got ${a.length} values for n = ${n}`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new WebvitError('BAD_ARGUMENT', `symmetricEigen: value ${a[i]} at (${Math.floor(i / n)}, ${i % n}) is not finite`);
  }
  // W = Vᵀ: W[j] is column j of JAMA's V (so W[j][k] = V[k][j]). JAMA's inner loops run down V's
  // columns; stored this way they run along arrays (contiguous memory): 768×768 in ~3 s, not ~7 s.
  const W: Float64Array[] = Array.from({ length: n }, (_, i) => {
    const row = new Float64Array(n);
    for (let j = 0; j <= i; j++) row[j] = a[i * n + j];
    for (let j = i + 1; j < n; j++) row[j] = a[j * n + i]; // symmetric: mirror the lower triangle
    return row;
  });
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(n, W, d, e);
  tql2(n, W, d, e);
  // Largest first (tql2 leaves them ascending); eigenvector j is column j of V, W[j].
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = Float64Array.from(order, (j) => d[j]);
  const vectors = order.map((j) => W[j]);
  return { values, vectors };
}

/** Householder tridiagonalisation: on return d is the diagonal, e the subdiagonal (e[0] = 0), W the accumulated transform (transposed). */
function tred2(n: number, W: Float64Array[], d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = W[j][n - 1];
  for (let i = n - 1; i > 0; i--) {
    // Scale to avoid under/overflow.
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = W[j][i - 1];
        W[j][i] = 0;
        W[i][j] = 0;
      }
    } else {
      // Generate the Householder vector.
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // Apply the similarity transformation to the remaining columns.
      for (let j = 0; j < i; j++) {
        f = d[j];
        W[i][j] = f;
        g = e[j] + W[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += W[j][k] * d[k];
          e[k] += W[j][k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) W[j][k] -= f * e[k] + g * d[k];
        d[j] = W[j][i - 1];
        W[j][i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    W[i][n - 1] = W[i][i];
    W[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[i + 1][k] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += W[i + 1][k] * W[j][k];
        for (let k = 0; k <= i; k++) W[j][k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) W[i + 1][k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[j][n - 1];
    W[j][n - 1] = 0;
  }
  W[n - 1][n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e): d becomes the eigenvalues, W's rows (V's columns) the eigenvectors. */
function tql2(n: number, W: Float64Array[], d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    // Find a small subdiagonal element.
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        // QL converges in 1–3 iterations per eigenvalue; a cap turns a pathological case into an error, not a hang.
        if (++iter > 100) throw new WebvitError('BAD_ARGUMENT', `symmetricEigen: QL iteration did not converge for eigenvalue ${l} of ${n}`);
        // Implicit shift.
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // Implicit QL transformation.
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          // Accumulate the transformation.
          const vi = W[i];
          const vi1 = W[i + 1];
          for (let k = 0; k < n; k++) {
            h = vi1[k];
            vi1[k] = s * vi[k] + c * h;
            vi[k] = c * vi[k] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
