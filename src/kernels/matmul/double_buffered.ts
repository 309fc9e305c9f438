import { WebvitError } from '../../errors.js';
import { epilogueWgsl, linearHeaderWgsl, type LinearCodeParams } from './epilogue.js';
import { bigTileInvocations, type BigTile } from './tile_shapes.js';

/**
 * big_*: large output tiles for data-centre GPUs, 8×8 outputs per invocation, double-buffered
 * workgroup memory.
 *
 *   out[M, N] = epilogue(A[M, K] · W[K, N] + bias[N]) (+ residual[M, N])
 *
 * A workgroup of (BN/8)×(BM/8) invocations computes a BM×BN tile. Invocation (tx, ty) owns rows
 * {4ty..4ty+3} and {BM/2 + 4ty..+3} and columns {4tx..4tx+3} and {BN/2 + 4tx..+3} of it: two vec4
 * of A and two vec4 of W per k feed 16 vec4 FMAs (64 multiply-adds from 4 workgroup reads, against
 * 16 from 2 in `tiled`), and the split halves keep each vec4 read and store contiguous across
 * neighbouring invocations.
 *
 * K is walked in BK-wide slices through two workgroup buffers: while slice t is multiplied out of
 * buffer t%2, each invocation holds its share of slice t+1 in registers (fetched from global memory
 * before the multiply, so the loads are in flight during it) and writes it to the other buffer
 * afterwards. One barrier per slice suffices: the buffer written at step t was last read at step
 * t−1, which every invocation has finished (it passed that step's barrier).
 *
 * Loads are vec4 along K for A (K % 4 == 0) and along N for W (N % 4 == 0, f32 or two packed halves
 * per u32 component), scalars otherwise; out-of-range rows, columns and k are zero-filled on load
 * and masked on store, so any M, N, K works.
 */
export { bigTileInvocations, bigTileStorage, type BigTile } from './tile_shapes.js';

export function doubleBufferedLinearCode(tile: BigTile, p: LinearCodeParams): string {
  const { BM, BN, BK } = tile;
  const T = bigTileInvocations(tile);
  const aLoads = (BM * BK) / (p.vecA ? 4 : 1);
  const bLoads = (BK * BN) / (p.vecN ? 4 : 1);
  if (BM % 8 || BN % 8 || BK % 4 || aLoads % T || bLoads % T || T > 256) {
    throw new WebvitError('BAD_ARGUMENT', `matmul big tile ${BM}x${BN}x${BK}: rows and columns must be multiples of 8, BK of 4, each tile's loads a whole number per invocation, at most 256 invocations`);
  }
  const NA = aLoads / T; // A elements (vec4 or scalar) each invocation stages per slice
  const NB = bLoads / T;
  const tA = p.vecA ? 'vec4<f32>' : 'f32';
  const tB = p.vecN ? 'vec4<f32>' : 'f32';
  const epilogue = epilogueWgsl(p);

  // Global -> register fetch of element i of a slice starting at k0, and register -> workgroup
  // store of it into the buffer whose first row is `base` (0 or BK).
  const fetchA = p.vecA
    ? /* wgsl */ `fn fetch_a(row0: u32, k0: u32, i: u32) -> vec4<f32> {
  let gr = row0 + i / ${BK / 4}u;
  let gk = k0 + (i % ${BK / 4}u) * 4u;
  if (gr < params.M && gk < params.K) { return a[(gr * params.K + gk) / 4u]; }
  return vec4<f32>(0.0);
}
fn put_a(base: u32, i: u32, v: vec4<f32>) {
  let r = i / ${BK / 4}u;
  let k = base + (i % ${BK / 4}u) * 4u;
  As[k][r / 4u][r % 4u] = v.x;
  As[k + 1u][r / 4u][r % 4u] = v.y;
  As[k + 2u][r / 4u][r % 4u] = v.z;
  As[k + 3u][r / 4u][r % 4u] = v.w;
}`
    : /* wgsl */ `fn fetch_a(row0: u32, k0: u32, i: u32) -> f32 {
  let gr = row0 + i / ${BK}u;
  let gk = k0 + i % ${BK}u;
  if (gr < params.M && gk < params.K) { return a[gr * params.K + gk]; }
  return 0.0;
}
fn put_a(base: u32, i: u32, v: f32) {
  let r = i / ${BK}u;
  As[base + i % ${BK}u][r / 4u][r % 4u] = v;
}`;
  const fetchB = p.vecN
    ? /* wgsl */ `fn fetch_b(col0: u32, k0: u32, i: u32) -> vec4<f32> {
  let gk = k0 + i / ${BN / 4}u;
  let gn = col0 + (i % ${BN / 4}u) * 4u;
  if (gk < params.K && gn < params.N) {
    return load_w4(gk, gn);
  }
  return vec4<f32>(0.0);
}
fn put_b(base: u32, i: u32, v: vec4<f32>) {
  Bs[base + i / ${BN / 4}u][i % ${BN / 4}u] = v;
}`
    : /* wgsl */ `fn fetch_b(col0: u32, k0: u32, i: u32) -> f32 {
  let gk = k0 + i / ${BN}u;
  let gn = col0 + i % ${BN}u;
  if (gk < params.K && gn < params.N) {
    return load_w(gk, gn);
  }
  return 0.0;
}
fn put_b(base: u32, i: u32, v: f32) {
  let n = i % ${BN}u;
  Bs[base + i / ${BN}u][n / 4u][n % 4u] = v;
}`;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i);
  const fetch = (k0: string) =>
    [...ids(NA).map((j) => `ra[${j}] = fetch_a(row0, ${k0}, li + ${j * T}u);`), ...ids(NB).map((j) => `rb[${j}] = fetch_b(col0, ${k0}, li + ${j * T}u);`)].join('\n    ');
  const put = (base: string) =>
    [...ids(NA).map((j) => `put_a(${base}, li + ${j * T}u, ra[${j}]);`), ...ids(NB).map((j) => `put_b(${base}, li + ${j * T}u, rb[${j}]);`)].join('\n    ');
  // acc[2i + j]: row i of the invocation's 8 (a0.xyzw, then a1.xyzw), column vec4 j (b0, b1).
  const fma = ids(8)
    .flatMap((i) => ids(2).map((j) => `acc[${2 * i + j}] += a${i >> 2}.${'xyzw'[i & 3]} * b${j};`))
    .join('\n      ');
  // vec4 stores are written out per accumulator (constant indices keep acc in registers); the
  // scalar path (odd N, off the models' hot path) loops, as 64 inlined epilogues take seconds
  // to compile on CPU drivers.
  const store = p.vecN
    ? ids(8)
        .flatMap((i) =>
          ids(2).map((j) => {
            const row = `row0 + ${(i >> 2) * (BM / 2) + (i & 3)}u + lid.y * 4u`;
            const col = `col0 + ${j * (BN / 2)}u + lid.x * 4u`;
            return `{ let row = ${row}; let col = ${col}; if (row < params.M && col < params.N) { let v = acc[${2 * i + j}]; ${epilogue} } }`;
          }),
        )
        .join('\n  ')
    : /* wgsl */ `for (var q = 0u; q < 16u; q++) {
    let i = q / 2u;
    let row = row0 + (i / 4u) * ${BM / 2}u + i % 4u + lid.y * 4u;
    let c0 = col0 + (q % 2u) * ${BN / 2}u + lid.x * 4u;
    if (row >= params.M) { continue; }
    for (var c = 0u; c < 4u; c++) {
      let col = c0 + c;
      if (col < params.N) { let v = acc[q][c]; ${epilogue} }
    }
  }`;
  return /* wgsl */ `
${linearHeaderWgsl(p)}

// Two buffers of BK rows each: rows [0, BK) and [BK, 2·BK).
var<workgroup> As: array<array<vec4<f32>, ${BM / 4}>, ${2 * BK}>; // As[k][m/4][m%4]: A slice, transposed
var<workgroup> Bs: array<array<vec4<f32>, ${BN / 4}>, ${2 * BK}>; // Bs[k][n/4][n%4]: W slice

${fetchA}
${fetchB}

@compute @workgroup_size(${BN / 8}, ${BM / 8}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${BM}u;
  let col0 = wg.x * ${BN}u;
  var acc: array<vec4<f32>, 16>;
  var ra: array<${tA}, ${NA}>; // this invocation's share of the next A slice
  var rb: array<${tB}, ${NB}>; // and of the next W slice
  ${fetch('0u')}
  ${put('0u')}
  workgroupBarrier();
  let slices = (params.K + ${BK - 1}u) / ${BK}u;
  for (var t = 0u; t < slices; t++) {
    let cur = (t % 2u) * ${BK}u;
    let more = t + 1u < slices;
    if (more) {
    ${fetch(`(t + 1u) * ${BK}u`)}
    }
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let a0 = As[cur + kk][lid.y];
      let a1 = As[cur + kk][lid.y + ${BM / 8}u];
      let b0 = Bs[cur + kk][lid.x];
      let b1 = Bs[cur + kk][lid.x + ${BN / 8}u];
      ${fma}
    }
    if (more) {
    ${put(`${BK}u - cur`)}
    }
    workgroupBarrier();
  }
  ${store}
}
`;
}
