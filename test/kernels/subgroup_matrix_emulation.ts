import { FRAGMENT, SUBGROUP_MATRIX_LANES, type FragmentOps } from '../../src/kernels/matmul/subgroup_matrix.js';

/**
 * The sgmat_* kernels' subgroup-matrix operations written out as plain WGSL, for adapters without
 * subgroup matrices (test/kernels/subgroup_matrix.test.ts): each of a subgroup's 32 lanes owns 8
 * of a fragment's 256 elements (element l + 32·e: row (l + 32·e) / 16, column % 16), all the
 * subgroup's fragments in one private array; products of the f16 operands summed in f32, in the
 * order of the fragments. Needs shader-f16 only. Test code: it stays out of the library.
 *
 * Its loops run to bounds the compiler cannot see (0 if params.M were 2^32 − 1, which no buffer
 * can hold): fully unrolled, as constant bounds let lavapipe do, one emulated kernel took ~50 s
 * to compile (2026-11-30; Mesa's shader cache hid it on a machine that had compiled it before,
 * and a fresh one looked hung).
 */
const E = (FRAGMENT * FRAGMENT) / SUBGROUP_MATRIX_LANES; // elements of a fragment per lane
const opaque = (n: number) => `select(${n}u, 0u, params.M == 0xffffffffu)`;

export const EMULATED_FRAGMENT_OPS: FragmentOps = {
  directives: 'enable f16;',
  declare: ({ tile: { FM, FN } }) => `var accs: array<f32, ${FM * FN * E}>;`,
  multiply: ({ tile: { FM, FN, BK }, AS, BS }) => `let nK = ${opaque(FRAGMENT)};
    let nF = ${opaque(FM * FN)};
    let nE = ${opaque(E)};
    for (var kk = 0u; kk < ${BK}u; kk += ${FRAGMENT}u) {
      for (var f = 0u; f < nF; f++) {
        let fi = f / ${FN}u;
        let fj = f % ${FN}u;
        for (var e = 0u; e < nE; e++) {
          let idx = lane + ${SUBGROUP_MATRIX_LANES}u * e;
          let arow = (sr * ${FM * FRAGMENT}u + fi * ${FRAGMENT}u + idx / ${FRAGMENT}u) * ${AS}u + kk;
          let bcol = kk * ${BS}u + sc * ${FN * FRAGMENT}u + fj * ${FRAGMENT}u + idx % ${FRAGMENT}u;
          var s = 0.0;
          for (var k = 0u; k < nK; k++) { s += f32(As[arow + k]) * f32(Bs[bcol + k * ${BS}u]); }
          accs[f * ${E}u + e] += s;
        }
      }
    }`,
  store: ({ tile: { FN } }, i, j) =>
    `for (var e = 0u; e < ${E}u; e++) { Cs[sg * ${FRAGMENT * FRAGMENT}u + lane + ${SUBGROUP_MATRIX_LANES}u * e] = accs[${(i * FN + j) * E}u + e]; }`,
};
