import { activationOf, type MatmulEpilogue } from './epilogue.js';

/** float64 reference: out[M, N] = epilogue(A[M, K]·W[K, N] + bias[N]) (+ residual[M, N]). */
export function linearRef(
  a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | undefined, residual: ArrayLike<number> | undefined,
  M: number, K: number, N: number, epilogue: MatmulEpilogue,
): Float64Array {
  const out = new Float64Array(M * N);
  const rowAcc = new Float64Array(N);
  const act = activationOf(epilogue);
  for (let m = 0; m < M; m++) {
    rowAcc.fill(0);
    for (let k = 0; k < K; k++) {
      const av = a[m * K + k];
      if (av === 0) continue;
      const wo = k * N;
      for (let n = 0; n < N; n++) rowAcc[n] += av * w[wo + n];
    }
    for (let n = 0; n < N; n++) {
      let y = rowAcc[n] + (bias ? bias[n] : 0);
      if (act) y = act.ref64(y);
      if (epilogue === 'residual') y += residual![m * N + n];
      out[m * N + n] = y;
    }
  }
  return out;
}
