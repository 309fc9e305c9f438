import { WebvitError } from '../../errors.js';
import { epilogueWgsl, linearHeaderWgsl, type LinearCodeParams } from './epilogue.js';
import { FRAGMENT, PAD, SUBGROUP_MATRIX_LANES, subgroupMatrixBlock, subgroupMatrixInvocations, type SubgroupMatrixTile } from './tile_shapes.js';

/**
 * sgmat_*: the tensor-core matmul, through WebGPU's subgroup matrices (Dawn's
 * `chromium-experimental-subgroup-matrix`; on NVIDIA, Vulkan cooperative matrices). f16 operands,
 * f32 accumulation: an opt-in precision (`precision: 'f16'`), never an fp32 candidate.
 *
 *   out[M, N] = epilogue(A[M, K] · W[K, N] + bias[N]) (+ residual[M, N])
 *
 * A workgroup of SR×SC subgroups (32 invocations each) computes a BM×BN tile; subgroup (sr, sc)
 * owns FM×FN fragments of 16×16 outputs at rows sr·16·FM.., columns sc·16·FN... K is walked in
 * slices of BK: the workgroup converts its slice of A (BM×BK) and of W (BK×BN) from f32 (or W's
 * packed halves) to f16 in workgroup memory, one barrier, then each subgroup loads 16×16 f16
 * fragments from there and multiply-accumulates into its f32 result fragments. The buffers stay
 * f32, so the variant has the same bindings as every other matmul and an f32 model can switch to
 * it per layer.
 *
 * The epilogue goes through a 16×16 f32 staging area per subgroup: a result fragment is stored
 * there, and the subgroup's 32 lanes finish 8 outputs each (bias, activation, residual) with the
 * same masked code as every variant, so ragged edges (197 rows, 1000 classes) are exact and no
 * fragment ever writes past the tensor.
 *
 * Fragment loads take offsets that differ per subgroup, which WGSL's (workgroup-level) uniformity
 * analysis cannot prove subgroup-uniform; they are, by construction, so the module turns that
 * diagnostic off. The subgroup index is local_invocation_index / 32, which needs subgroups of
 * exactly 32 invocations (the variant declares it).
 */
export { FRAGMENT, PAD, SUBGROUP_MATRIX_LANES, subgroupMatrixBlock, subgroupMatrixInvocations, subgroupMatrixStorage, type SubgroupMatrixTile } from './tile_shapes.js';

/**
 * What a tile's kernel needs to know to write its fragment operations: the tile, its staged row
 * strides (halves), and the name of result fragment (i, j).
 */
export interface FragmentContext {
  tile: SubgroupMatrixTile;
  /** Row strides of the staged A ([BM][AS]) and W ([BK][BS]) slices, in halves. */
  AS: number;
  BS: number;
  acc(i: number, j: number): string;
}

/**
 * The subgroup-matrix operations of the kernel: its directives, the accumulators' declarations,
 * one K slice's multiply-accumulate (WGSL in scope: As, Bs, sr, sc, lane, params), and the store of
 * fragment (i, j) into this subgroup's staging area `Cs[sg·256 ..]`, row-major. The real ones use
 * WebGPU's subgroup matrices; test/kernels/subgroup_matrix_emulation.ts writes the same in plain
 * WGSL, so that everything else (staging, fragment offsets, K slices, epilogue) is checked on
 * adapters without them.
 */
export interface FragmentOps {
  directives: string;
  declare(c: FragmentContext): string;
  multiply(c: FragmentContext): string;
  store(c: FragmentContext, i: number, j: number): string;
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => i);
const L = `subgroup_matrix_left<f16, ${FRAGMENT}, ${FRAGMENT}>`;
const R = `subgroup_matrix_right<f16, ${FRAGMENT}, ${FRAGMENT}>`;
const C = `subgroup_matrix_result<f32, ${FRAGMENT}, ${FRAGMENT}>`;

/** WebGPU's subgroup matrices (chromium-experimental-subgroup-matrix). */
export const SUBGROUP_MATRIX_OPS: FragmentOps = {
  directives: /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);`,
  declare: ({ tile: { FM, FN }, acc }) => ids(FM).flatMap((i) => ids(FN).map((j) => `var ${acc(i, j)} = ${C}();`)).join('\n  '),
  multiply: ({ tile: { FM, FN, BK }, AS, BS, acc }) =>
    ids(BK / FRAGMENT)
      .map((s) => {
        const kk = s * FRAGMENT;
        return [
          ...ids(FM).map((i) => `let l${i} = subgroupMatrixLoad<${L}, row_major>(&As, (sr * ${FM * FRAGMENT}u + ${i * FRAGMENT}u) * ${AS}u + ${kk}u, ${AS}u);`),
          ...ids(FN).flatMap((j) => [
            `let r${j} = subgroupMatrixLoad<${R}, row_major>(&Bs, ${kk * BS}u + sc * ${FN * FRAGMENT}u + ${j * FRAGMENT}u, ${BS}u);`,
            ...ids(FM).map((i) => `${acc(i, j)} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, ${acc(i, j)});`),
          ]),
        ].join('\n      ');
      })
      .map((body) => `{\n      ${body}\n    }`)
      .join('\n    '),
  store: ({ acc }, i, j) => `subgroupMatrixStore<row_major>(&Cs, sg * ${FRAGMENT * FRAGMENT}u, ${acc(i, j)}, ${FRAGMENT}u);`,
};

/** The WGSL of a sgmat_* tile; `ops` other than SUBGROUP_MATRIX_OPS are for tests. */
export function subgroupMatrixLinearCode(tile: SubgroupMatrixTile, p: LinearCodeParams, ops: FragmentOps = SUBGROUP_MATRIX_OPS): string {
  const { SR, SC, FM, FN, BK } = tile;
  const { rows: BM, cols: BN } = subgroupMatrixBlock(tile);
  const T = subgroupMatrixInvocations(tile);
  const AS = BK + PAD; // staged A row stride (halves)
  const BS = BN + PAD; // staged W row stride
  const aLoads = (BM * BK) / (p.vecA ? 4 : 1);
  const bLoads = (BK * BN) / (p.vecN ? 4 : 1);
  if (BK % FRAGMENT || aLoads % T || bLoads % T || T > 256) {
    throw new WebvitError('BAD_ARGUMENT', `matmul subgroup-matrix tile ${BM}x${BN}x${BK}: BK must be a multiple of 16, each slice's loads a whole number per invocation, at most 256 invocations`);
  }
  // Outputs are finished one by one through the staging area: scalar bias, residual and out.
  const scalar: LinearCodeParams = { ...p, vecN: false };

  const stageA = p.vecA
    ? /* wgsl */ `for (var i = li; i < ${aLoads}u; i += ${T}u) {
      let r = i / ${BK / 4}u;
      let k = (i % ${BK / 4}u) * 4u;
      var v = vec4<f32>(0.0);
      if (row0 + r < params.M && k0 + k < params.K) { v = a[((row0 + r) * params.K + k0 + k) / 4u]; }
      let h = vec4<f16>(v);
      let s = r * ${AS}u + k;
      As[s] = h.x; As[s + 1u] = h.y; As[s + 2u] = h.z; As[s + 3u] = h.w;
    }`
    : /* wgsl */ `for (var i = li; i < ${aLoads}u; i += ${T}u) {
      let r = i / ${BK}u;
      let k = i % ${BK}u;
      var v = 0.0;
      if (row0 + r < params.M && k0 + k < params.K) { v = a[(row0 + r) * params.K + k0 + k]; }
      As[r * ${AS}u + k] = f16(v);
    }`;
  // W through its loader (weight_read.ts): f16 weights come back exactly (f16 -> f32 -> f16).
  const wVec = `h = vec4<f16>(load_w4(k0 + k, col0 + n));`;
  const wScalar = `h = f16(load_w(k0 + k, col0 + n));`;
  const stageB = p.vecN
    ? /* wgsl */ `for (var i = li; i < ${bLoads}u; i += ${T}u) {
      let k = i / ${BN / 4}u;
      let n = (i % ${BN / 4}u) * 4u;
      var h = vec4<f16>(0.0);
      if (k0 + k < params.K && col0 + n < params.N) { ${wVec} }
      let s = k * ${BS}u + n;
      Bs[s] = h.x; Bs[s + 1u] = h.y; Bs[s + 2u] = h.z; Bs[s + 3u] = h.w;
    }`
    : /* wgsl */ `for (var i = li; i < ${bLoads}u; i += ${T}u) {
      let k = i / ${BN}u;
      let n = i % ${BN}u;
      var h = f16(0.0);
      if (k0 + k < params.K && col0 + n < params.N) { ${wScalar} }
      Bs[k * ${BS}u + n] = h;
    }`;

  const c: FragmentContext = { tile, AS, BS, acc: (i, j) => `acc_${i}_${j}` };
  // Each fragment: stored to this subgroup's staging area, finished by its lanes (8 outputs each).
  const store = (i: number, j: number) => ops.store(c, i, j);
  const finish = ids(FM)
    .flatMap((i) =>
      ids(FN).map(
        (j) => /* wgsl */ `${store(i, j)}
  workgroupBarrier();
  for (var e = lane; e < ${FRAGMENT * FRAGMENT}u; e += ${SUBGROUP_MATRIX_LANES}u) {
    let row = row0 + sr * ${FM * FRAGMENT}u + ${i * FRAGMENT}u + e / ${FRAGMENT}u;
    let col = col0 + sc * ${FN * FRAGMENT}u + ${j * FRAGMENT}u + e % ${FRAGMENT}u;
    if (row < params.M && col < params.N) { let v = Cs[sg * ${FRAGMENT * FRAGMENT}u + e]; ${epilogueWgsl(scalar)} }
  }
  workgroupBarrier();`,
      ),
    )
    .join('\n  ');

  return /* wgsl */ `${ops.directives}
${linearHeaderWgsl(p, { scalarOutput: true })}

var<workgroup> As: array<f16, ${BM * AS}>; // A slice [BM][BK], f16, rows padded to ${AS}
var<workgroup> Bs: array<f16, ${BK * BS}>; // W slice [BK][BN], f16, rows padded to ${BS}
var<workgroup> Cs: array<f32, ${SR * SC * FRAGMENT * FRAGMENT}>; // one 16x16 result fragment per subgroup

@compute @workgroup_size(${T}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${BM}u;
  let col0 = wg.x * ${BN}u;
  let sg = li / ${SUBGROUP_MATRIX_LANES}u;
  let lane = li % ${SUBGROUP_MATRIX_LANES}u;
  let sr = sg / ${SC}u;
  let sc = sg % ${SC}u;
  ${ops.declare(c)}
  for (var k0 = 0u; k0 < params.K; k0 += ${BK}u) {
    ${stageA}
    ${stageB}
    workgroupBarrier();
    ${ops.multiply(c)}
    workgroupBarrier();
  }
  ${finish}
}
`;
}
