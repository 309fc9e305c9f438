import { WebvitError } from '../../errors.js';
import { epilogueWgsl, linearHeaderWgsl, type LinearCodeParams } from './epilogue.js';

/**
 * slicedk_*: K split across the invocations of one workgroup ("sliced-K"), for few rows and a long
 * K (ViT-B fc2 at batch 1: 197×3072×768, where 64×64 tiles make 48 workgroups for a GPU of 100+
 * multiprocessors). A small BM×BN output tile gets S times the invocations it would have in
 * `tiled`, so the grid has many more workgroups and each walks K with S-fold parallelism.
 *
 *   out[M, N] = epilogue(A[M, K] · W[K, N] + bias[N]) (+ residual[M, N])
 *
 * The workgroup is S slices of BM·BN/16 invocations, each invocation owning 4×4 outputs of the
 * tile. Per step, all invocations stage a BM × S·BK slice of A (transposed) and an S·BK × BN slice
 * of W in workgroup memory; slice s multiplies k in [s·BK, (s+1)·BK) of it into its own partial
 * sums. After the K loop every slice writes its partial tile to workgroup memory (the same memory
 * the staging used), and each invocation sums the S partials of 4/S of the tile's vec4 outputs and
 * applies the epilogue: the reduction stays in one dispatch, with no scratch buffer and no atomics
 * (WGSL has no f32 atomics).
 *
 * A true split-K across workgroups would need a partials buffer [S, M, N] and a second reducing
 * dispatch; a matmul variant is one dispatch on the op's own bindings (the tests check that a
 * variant switch keeps bindings and sizes), so that is not expressible as a variant today.
 *
 * Loads are vec4 along K for A (K % 4 == 0) and along N for W (N % 4 == 0), scalars otherwise;
 * out-of-range rows, columns and k are zero-filled on load and masked on store.
 */
export interface SlicedKTile {
  /** Output rows per workgroup (multiple of 4). */
  BM: number;
  /** Output columns per workgroup (multiple of 4). */
  BN: number;
  /** Slices of K per workgroup. */
  S: number;
  /** k per slice per step (multiple of 4). */
  BK: number;
}

export const slicedKInvocations = (t: SlicedKTile): number => (t.S * t.BM * t.BN) / 16;

/** Workgroup memory, in bytes: the staged slices, or the S partial tiles, whichever is larger. */
export const slicedKStorage = (t: SlicedKTile): number => 16 * slicedKVec4s(t);

const slicedKVec4s = ({ BM, BN, S, BK }: SlicedKTile): number => Math.max(((BM + BN) * S * BK) / 4, (S * BM * BN) / 4);

export function slicedKLinearCode(tile: SlicedKTile, p: LinearCodeParams): string {
  const { BM, BN, S, BK } = tile;
  const T = slicedKInvocations(tile);
  const KT = S * BK; // k staged per step
  const perSlice = (BM * BN) / 16;
  const tileVec4s = (BM * BN) / 4;
  if (BM % 4 || BN % 4 || BK % 4 || T > 256 || tileVec4s % T) {
    throw new WebvitError('BAD_ARGUMENT', `matmul sliced-K tile ${BM}x${BN}, ${S} slices of ${BK}: sizes must be multiples of 4, at most 256 invocations, and the tile's vec4s a multiple of them`);
  }
  const aOff = 0;
  const bOff = (KT * BM) / 4; // W's slice follows A's in the shared array
  const epilogue = epilogueWgsl(p);
  const aLoads = (BM * KT) / (p.vecA ? 4 : 1);
  const bLoads = (KT * BN) / (p.vecN ? 4 : 1);
  const loadA = p.vecA
    ? /* wgsl */ `for (var i = li; i < ${aLoads}u; i += ${T}u) {
      let r = i / ${KT / 4}u;
      let kc = (i % ${KT / 4}u) * 4u;
      let gr = row0 + r;
      let gk = k0 + kc;
      var v = vec4<f32>(0.0);
      if (gr < params.M && gk < params.K) { v = a[(gr * params.K + gk) / 4u]; }
      sm[${aOff}u + kc * ${BM / 4}u + r / 4u][r % 4u] = v.x;
      sm[${aOff}u + (kc + 1u) * ${BM / 4}u + r / 4u][r % 4u] = v.y;
      sm[${aOff}u + (kc + 2u) * ${BM / 4}u + r / 4u][r % 4u] = v.z;
      sm[${aOff}u + (kc + 3u) * ${BM / 4}u + r / 4u][r % 4u] = v.w;
    }`
    : /* wgsl */ `for (var i = li; i < ${aLoads}u; i += ${T}u) {
      let r = i / ${KT}u;
      let kk = i % ${KT}u;
      let gr = row0 + r;
      let gk = k0 + kk;
      var v = 0.0;
      if (gr < params.M && gk < params.K) { v = a[gr * params.K + gk]; }
      sm[${aOff}u + kk * ${BM / 4}u + r / 4u][r % 4u] = v;
    }`;
  const loadB = p.vecN
    ? /* wgsl */ `for (var i = li; i < ${bLoads}u; i += ${T}u) {
      let kk = i / ${BN / 4}u;
      let nc = i % ${BN / 4}u;
      let gk = k0 + kk;
      let gn = col0 + nc * 4u;
      var v = vec4<f32>(0.0);
      if (gk < params.K && gn < params.N) {
        v = load_w4(gk, gn);
      }
      sm[${bOff}u + kk * ${BN / 4}u + nc] = v;
    }`
    : /* wgsl */ `for (var i = li; i < ${bLoads}u; i += ${T}u) {
      let kk = i / ${BN}u;
      let n = i % ${BN}u;
      let gk = k0 + kk;
      let gn = col0 + n;
      var v = 0.0;
      if (gk < params.K && gn < params.N) { v = load_w(gk, gn); }
      sm[${bOff}u + kk * ${BN / 4}u + n / 4u][n % 4u] = v;
    }`;
  const store = p.vecN
    ? /* wgsl */ `let col = col0 + c4 * 4u;
    if (row < params.M && col < params.N) { ${epilogue} }`
    : /* wgsl */ `if (row < params.M) {
      for (var c = 0u; c < 4u; c++) {
        let col = col0 + c4 * 4u + c;
        if (col < params.N) { let v = vv[c]; ${epilogue} }
      }
    }`;
  return /* wgsl */ `
${linearHeaderWgsl(p)}

// During the K loop: A's slice transposed at [k·${BM / 4} + m/4][m%4] (k < ${KT}), then W's at
// ${bOff} + [k·${BN / 4} + n/4][n%4]. After it: slice s's partial tile at s·${tileVec4s} + [m·${BN / 4} + n/4].
var<workgroup> sm: array<vec4<f32>, ${slicedKVec4s(tile)}>;

@compute @workgroup_size(${T}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${BM}u;
  let col0 = wg.x * ${BN}u;
  let s = li / ${perSlice}u; // this invocation's slice of K
  let tx = li % ${BN / 4}u; // columns 4tx..4tx+3 of the tile
  let ty = (li % ${perSlice}u) / ${BN / 4}u; // rows 4ty..4ty+3
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += ${KT}u) {
    ${loadA}
    ${loadB}
    workgroupBarrier();
    for (var kk = s * ${BK}u; kk < (s + 1u) * ${BK}u; kk++) {
      let av = sm[${aOff}u + kk * ${BM / 4}u + ty];
      let bv = sm[${bOff}u + kk * ${BN / 4}u + tx];
      acc[0] += av.x * bv;
      acc[1] += av.y * bv;
      acc[2] += av.z * bv;
      acc[3] += av.w * bv;
    }
    workgroupBarrier();
  }
  // Partial tiles out, then each invocation sums the slices of ${tileVec4s / T} vec4 output(s).
  for (var i = 0u; i < 4u; i++) {
    sm[s * ${tileVec4s}u + (ty * 4u + i) * ${BN / 4}u + tx] = acc[i];
  }
  workgroupBarrier();
  for (var q = li; q < ${tileVec4s}u; q += ${T}u) {
    var vv = sm[q];
    for (var t = 1u; t < ${S}u; t++) { vv += sm[t * ${tileVec4s}u + q]; }
    let row = row0 + q / ${BN / 4}u;
    let c4 = q % ${BN / 4}u;
    ${p.vecN ? 'let v = vv;' : ''}
    ${store}
  }
}
`;
}
