import { WebvitError } from '../../errors.js';
import { numberBindings, weightDecl, weightRead, type WeightStorage } from './weight_read.js';
/**
 * tiled: the register-blocked matmul every projection in the model runs on.
 *
 *   out[M, N] = epilogue(A[M, K] · W[K, N] + bias[N])
 *
 * A workgroup of (BN/4)×(BM/4) invocations computes a BM×BN output tile; each invocation owns a
 * 4×4 block of it, kept in four vec4 accumulators. K is walked in BK-wide slices staged through
 * workgroup memory: A transposed (As[k][m]) and W as is (Bs[k][n]), both as vec4 so the inner loop
 * is two 16-byte workgroup reads and four vec4 FMAs per k. Global loads are vec4 along K for A
 * (when K % 4 == 0) and along N for W, bias, residual and output (when N % 4 == 0); otherwise the
 * same kernel loads scalars. Out-of-range rows, columns and k are zero-filled on load and masked
 * on store, so any M, N, K works.
 *
 * The A side is pluggable: `rows` reads a row-major activation; the patch-embedding op plugs in a
 * loader that reads pixels straight from the NCHW image (no im2col buffer). The epilogue is
 * pluggable too (bias, GELU, residual add, patch-embedding's class token and positions).
 */

export interface TiledMatmulShape {
  /** Output rows per workgroup (multiple of 4). */
  BM: number;
  /** Output columns per workgroup (multiple of 4). */
  BN: number;
  /** K slice staged per step. */
  BK: number;
}

export const DEFAULT_TILE: TiledMatmulShape = { BM: 64, BN: 64, BK: 16 };

export interface TiledMatmulParts {
  /** Extra `Params` members after M, N, K. */
  params: string[];
  /** Bindings (WGSL declarations) besides `w`, `params`: binding numbers are assigned in order. */
  bindings: string[];
  /** WGSL function `fn load_a(row: u32, k: u32) -> vec4<f32>` (vecA: k is a multiple of 4, loads k..k+3) or `-> f32`. */
  loadA: string;
  /** WGSL body that writes outputs: gets `row: u32`, `col: u32` (first of 4 when vecN), `v` (vec4 or f32 accumulator). */
  store: string;
  /** Extra WGSL helpers (e.g. erf/GELU). */
  helpers?: string;
}

export interface TiledMatmulOptions {
  tile: TiledMatmulShape;
  vecA: boolean;
  vecN: boolean;
  /** How W is stored (weight_read.ts): f32, or halves, int8 or q4 codes unpacked to f32 as a tile loads. */
  w: WeightStorage;
}

export function tiledMatmulWgsl(o: TiledMatmulOptions, parts: TiledMatmulParts): string {
  const { BM, BN, BK } = o.tile;
  if (BM % 4 || BN % 4 || BK % 4) throw new WebvitError('BAD_ARGUMENT', `matmul tile ${BM}x${BN}x${BK}: all sizes must be multiples of 4`);
  const WX = BN / 4;
  const WY = BM / 4;
  const threads = WX * WY;
  const aLoads = (BM * BK) / (o.vecA ? 4 : 1); // A tile elements (vec4 or scalar) to load
  const bLoads = (BK * BN) / (o.vecN ? 4 : 1);
  const bindings = [...parts.bindings, weightDecl(o.w, o.vecN, o.vecN ? 'vec4<f32>' : 'f32'), `@group(0) @binding(?) var<uniform> params: Params;`];
  const loadATile = o.vecA
    ? /* wgsl */ `
    for (var i = li; i < ${aLoads}u; i += ${threads}u) {
      let r = i / ${BK / 4}u;
      let kc = (i % ${BK / 4}u) * 4u;
      let gr = row0 + r;
      let gk = k0 + kc;
      var v = vec4<f32>(0.0);
      if (gr < params.M && gk < params.K) { v = load_a(gr, gk); }
      As[kc][r / 4u][r % 4u] = v.x;
      As[kc + 1u][r / 4u][r % 4u] = v.y;
      As[kc + 2u][r / 4u][r % 4u] = v.z;
      As[kc + 3u][r / 4u][r % 4u] = v.w;
    }`
    : /* wgsl */ `
    for (var i = li; i < ${aLoads}u; i += ${threads}u) {
      let r = i / ${BK}u;
      let kk = i % ${BK}u;
      let gr = row0 + r;
      let gk = k0 + kk;
      var v = 0.0;
      if (gr < params.M && gk < params.K) { v = load_a(gr, gk); }
      As[kk][r / 4u][r % 4u] = v;
    }`;
  const loadBTile = o.vecN
    ? /* wgsl */ `
    for (var i = li; i < ${bLoads}u; i += ${threads}u) {
      let kk = i / ${BN / 4}u;
      let nc = i % ${BN / 4}u;
      let gk = k0 + kk;
      let gn = col0 + nc * 4u;
      var v = vec4<f32>(0.0);
      if (gk < params.K && gn < params.N) { v = load_w4(gk, gn); }
      Bs[kk][nc] = v;
    }`
    : /* wgsl */ `
    for (var i = li; i < ${bLoads}u; i += ${threads}u) {
      let kk = i / ${BN}u;
      let n = i % ${BN}u;
      let gk = k0 + kk;
      let gn = col0 + n;
      var v = 0.0;
      if (gk < params.K && gn < params.N) { v = load_w(gk, gn); }
      Bs[kk][n / 4u][n % 4u] = v;
    }`;
  const storeTile = o.vecN
    ? /* wgsl */ `
  let col = col0 + lid.x * 4u;
  if (col < params.N) {
    for (var i = 0u; i < 4u; i++) {
      let row = row0 + lid.y * 4u + i;
      if (row < params.M) {
        let v = acc[i];
        ${parts.store}
      }
    }
  }`
    : /* wgsl */ `
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    if (row >= params.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x * 4u + j;
      if (col < params.N) {
        let v = acc[i][j];
        ${parts.store}
      }
    }
  }`;
  return numberBindings(/* wgsl */ `
struct Params {
  M: u32,
  N: u32,
  K: u32,
${parts.params.map((p) => `  ${p},`).join('\n')}
}

${bindings.join('\n')}

${parts.helpers ?? ''}

${parts.loadA}
${weightRead(o.w).load(o.vecN)}

var<workgroup> As: array<array<vec4<f32>, ${BM / 4}>, ${BK}>; // As[k][m/4][m%4]: A tile, transposed
var<workgroup> Bs: array<array<vec4<f32>, ${BN / 4}>, ${BK}>; // Bs[k][n/4][n%4]: W tile

@compute @workgroup_size(${WX}, ${WY}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${BM}u;
  let col0 = wg.x * ${BN}u;
  var acc: array<vec4<f32>, 4>; // acc[i] = out[row0 + 4·lid.y + i, col0 + 4·lid.x .. +3]
  for (var k0 = 0u; k0 < params.K; k0 += ${BK}u) {
${loadATile}
${loadBTile}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let a = As[kk][lid.y];
      let b = Bs[kk][lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
${storeTile}
}
`);
}
