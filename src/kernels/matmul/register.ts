import { epilogueWgsl, linearHeaderWgsl, type LinearCodeParams } from './epilogue.js';
import { weightRead } from './weight_read.js';

/**
 * Register-blocked matmuls: no workgroup memory, no barriers. Each invocation computes a block of
 * `rows` × 4·`vec4s` outputs straight from global memory, holding the block in registers;
 * neighbouring invocations share A and W through the cache instead of through workgroup memory.
 *
 * Where the rows and columns of an invocation come from is the layout:
 *   'grid'    a 16×8 workgroup tiles a (16·4·vec4s)-column × (8·rows)-row block; every operand
 *             address differs per invocation. (register_4x4: the first variant of this family.)
 *   'subgroup' a workgroup of `wg` invocations along columns shares its `rows` rows (from
 *             workgroup_id.y). Per step of 4 along K, lanes 0..rows−1 of each subgroup load one
 *             row's vec4 of A each and subgroupBroadcast hands it to every lane: a row of A is
 *             read once per subgroup instead of once per invocation. Needs 'subgroups' and a
 *             subgroup size ≥ rows (4 is the WebGPU minimum).
 * 'subgroup' has no early return before the loads (out-of-range rows and columns are clamped and only
 * the stores are masked): code under divergent control flow loses the uniform fast path on
 * some compilers.
 */
export interface RegisterLayout {
  source: 'grid' | 'subgroup';
  /** Output rows per invocation. */
  rows: number;
  /** Output columns per invocation, in vec4s (4 columns each). */
  vec4s: number;
  /** Invocations per workgroup ('subgroup' only: all along columns). */
  wg?: number;
}

/** Output rows and columns one workgroup covers, for the dispatch grid. */
export function registerBlock(l: RegisterLayout): { rows: number; cols: number } {
  if (l.source === 'grid') return { rows: 8 * l.rows, cols: 16 * 4 * l.vec4s };
  return { rows: l.rows, cols: (l.wg ?? 64) * 4 * l.vec4s };
}

/**
 * 'subgroup': how many lanes of each subgroup load rows of A (each loads rows/G of them), which
 * is also the smallest subgroup size the variant works with.
 */
export function subgroupLoadLanes(rows: number): number {
  return Math.min(rows, 8);
}

/** The WGSL of a register-blocked variant with layout `L` (its kernel is named after the variant). */
export function registerLinearCode(L: RegisterLayout, p: LinearCodeParams): string {
  const RM = L.rows;
  const CV = L.vec4s;
  const WG = L.wg ?? 64;
  const rowIds = Array.from({ length: RM }, (_, i) => i);
  const G = subgroupLoadLanes(RM);
  const loadIds = Array.from({ length: Math.ceil(RM / G) }, (_, t) => t);
  const colIds = Array.from({ length: CV }, (_, j) => j);
  const loadA = p.vecA
    ? `fn load_a4(row: u32, k: u32) -> vec4<f32> { return a[(row * params.K + k) / 4u]; }`
    : /* wgsl */ `fn load_a4(row: u32, k: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < params.K) { r[j] = a[row * params.K + k + j]; } }
  return r;
}`;
  // W's loader comes with the header (weight_read.ts); scalar columns are gathered into a vec4.
  const loadW = p.vecN
    ? ''
    : /* wgsl */ `fn load_w4(k: u32, col: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (col + j < params.N) { r[j] = load_w(k, col + j); } }
  return r;
}`;
  // q4 (vec4 columns): codes summed per block of rows that share a scale, the scale applied once
  // per block (weight_read.ts `block`) instead of to every weight loaded. `blk` is zeroed by an
  // explicit initialiser: a bare `var blk: array<…>;` in the loop kept its sums across
  // iterations on lavapipe (seen 2026-12-07, Dawn over Mesa 25), though WGSL zeroes it each time.
  const B = p.vecN ? weightRead(p.w).block : undefined;
  const sum = B ? 'blk' : 'acc';
  const epilogue = (val: string) => epilogueWgsl(p, val);
  const store = (accI: string) =>
    p.vecN
      ? `if (col < params.N) { ${epilogue(accI)} }`
      : `for (var c = 0u; c < 4u; c++) { let col = col0 + c; if (col < params.N) { ${epilogue(`${accI}[c]`)} } }`;
  // 'grid' keeps register_4x4's original form (early return; measured as the baseline).
  const head =
    L.source === 'subgroup'
      ? /* wgsl */ `@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let colBase = (wid.x * ${WG}u + lid.x) * ${4 * CV}u;
  let row0 = wid.y * ${RM}u; // uniform over the workgroup
`
      : /* wgsl */ `@compute @workgroup_size(16, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let colBase = gid.x * ${4 * CV}u;
  let row0 = gid.y * ${RM}u;
  if (colBase >= params.N || row0 >= params.M) { return; }`;
  // Columns past N read the last vec4 of the row (in bounds; results discarded at the store).
  const colExpr = (j: number) => (p.vecN ? `min(colBase + ${4 * j}u, params.N - 4u)` : `colBase + ${4 * j}u`);
  const code = /* wgsl */ `${L.source === 'subgroup' ? 'enable subgroups;' : ''}
${linearHeaderWgsl(p)}
${loadA}
${loadW}

${head}
  // Rows past M read row M−1 (in bounds; results discarded at the store).
${L.source === 'subgroup' ? '' : rowIds.map((i) => `  let r${i} = min(row0 + ${i}u, params.M - 1u);`).join('\n')}
${colIds.map((j) => `  let c${j} = ${colExpr(j)};`).join('\n')}
  var acc: array<vec4<f32>, ${RM * CV}>;
${
  B
    ? `  for (var k0 = 0u; k0 < params.K; k0 += ${B}u) {
  var blk = array<vec4<f32>, ${RM * CV}>();
  for (var k = k0; k < min(k0 + ${B}u, params.K); k += 4u) {`
    : '  for (var k = 0u; k < params.K; k += 4u) {'
}
${
  L.source === 'subgroup'
    ? `${loadIds.map((t) => `    var mine${t} = vec4<f32>(0.0);`).join('\n')}
    if (lane < ${G}u) {
${loadIds.map((t) => `      mine${t} = load_a4(min(row0 + lane + ${t * G}u, params.M - 1u), k);`).join('\n')}
    }
${rowIds.map((i) => `    let a${i} = subgroupBroadcast(mine${Math.floor(i / G)}, ${i % G}u);`).join('\n')}`
    : rowIds.map((i) => `    let a${i} = load_a4(r${i}, k);`).join('\n')
}
    for (var kk = 0u; kk < 4u; kk++) {
      ${p.vecA ? '' : 'if (k + kk >= params.K) { break; }'}
${colIds.map((j) => `      let b${j} = ${B ? 'load_c4' : 'load_w4'}(k + kk, c${j});`).join('\n')}
${rowIds.flatMap((i) => colIds.map((j) => `      ${sum}[${i * CV + j}] += a${i}[kk] * b${j};`)).join('\n')}
    }
  }
${B ? `${colIds.map((j) => `  let s${j} = scale_w4(k0, c${j});`).join('\n')}
${rowIds.flatMap((i) => colIds.map((j) => `  acc[${i * CV + j}] += blk[${i * CV + j}] * s${j};`)).join('\n')}
  }` : ''}
  for (var i = 0u; i < ${RM}u; i++) {
    let row = row0 + i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < ${CV}u; j++) {
      let col0 = colBase + 4u * j;
      let col = col0;
      ${store(`acc[i * ${CV}u + j]`)}
    }
  }
}
`;
  return code;
}
