import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { WebvitError } from '../../errors.js';

/**
 * finite_check/chunks: where the first NaN or ±Inf of each image is, and how large its values are,
 * found on the GPU so that a forward pass's input needs no CPU scan (ViT-B/16 at batch 32: 4.8 M
 * values, 10–16 ms of CPU on the H200's host) and can go to the GPU straight from the caller's array.
 *
 * Each image's `values` are cut into chunks of CHUNK values; one workgroup per (chunk, image)
 * writes two values, out[image, chunk, 0..1]:
 *   0: −1 when the chunk holds only finite values, else 4·i + kind for its first non-finite value,
 *      at index i in the chunk, kind 1 = NaN, 2 = +Inf, 3 = −Inf;
 *   1: the largest |value| among the chunk's finite values (0 if none): forward() refuses an
 *      image whose largest is beyond the model's inputLimit (float32 would overflow inside it).
 * Every code is exact in float32 (4·65535 + 3 < 2^24), whatever the image size. The test reads
 * bits, not floats: WGSL lets a compiler assume floats are finite (`x != x` may fold to false),
 * while an exponent of all ones in the u32 pattern is NaN or ±Inf on every adapter.
 * decodeFiniteCheck (reference.ts) turns the output into the first bad value of each image.
 */
export const CHUNK = 65536;
const WG = 256;

export interface FiniteCheckArgs {
  label: string;
  batch: number;
  /** Values per image (C·S·S). */
  values: number;
  x: Binding;
  out: Binding;
  /** Kernel variant (FINITE_CHECK_VARIANTS); default 'chunks'. */
  variant?: FiniteCheckVariant;
}

/** A finite-check problem as the definition reads it off a dispatch. */
export interface FiniteCheckShape {
  batch: number;
  values: number;
}

/** Chunks per image: the output has batch × this many × 2 values. */
export const finiteCheckChunks = (values: number): number => ceilDiv(values, CHUNK);

/**
 * The WGSL of finite_check/chunks. `vec4` (images of a multiple of 4 values, as every RGB image of
 * even size is): each invocation loads 4 consecutive values at once.
 *
 * CHUNK sets how many workgroups (and reductions with their 9 barriers) a batch costs. Measured on
 * lavapipe with ViT-B's batch-32 input (19 MB, 2026-11-30): 4096 values a chunk 37 ms (scalar),
 * 35 ms (vec4); 16384: 14.5 ms; 65536: 7.3–9.5 ms, near the adapter's read bandwidth (a CPU adapter
 * runs a barrier by switching between every invocation of the workgroup). On a GPU a 224-px RGB
 * image is then 3 workgroups of 256 invocations each reading 200 KB: a few microseconds at batch 1
 * (predicted, not measured yet), against 6 ms of ViT-B's forward pass.
 */
function chunksCode(vec4: boolean): string {
  const W = vec4 ? 4 : 1;
  const load = vec4
    ? /* wgsl */ `let v = x[base / 4u + k];
      let m = v & vec4<u32>(0x7fffffffu);
      let finite = m < vec4<u32>(0x7f800000u);
      let kept = select(vec4<u32>(0u), m, finite);
      largest = max(largest, max(max(kept.x, kept.y), max(kept.z, kept.w)));
      if (code == NONE && !all(finite)) {
        for (var e = 0u; e < 4u; e++) {
          if (!finite[e]) { code = 4u * (4u * k + e) + kind(v[e]); break; }
        }
      }`
    : /* wgsl */ `let bits = x[base + k];
      let m = bits & 0x7fffffffu;
      if (m < 0x7f800000u) { largest = max(largest, m); }
      else if (code == NONE) { code = 4u * k + kind(bits); }`;
  return /* wgsl */ `
struct Params {
  values: u32,  // per image${vec4 ? ' (a multiple of 4)' : ''}
  chunks: u32,  // per image: ceil(values / ${CHUNK})
}
@group(0) @binding(0) var<storage, read> x: array<${vec4 ? 'vec4<u32>' : 'u32'}>;  // [batch, values] float32 bit patterns
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [batch, chunks, 2]: code, largest finite |value|
@group(0) @binding(2) var<uniform> params: Params;

const NONE = 0xffffffffu;
var<workgroup> first: array<u32, ${WG}>;
var<workgroup> top: array<u32, ${WG}>;

// 1 NaN (a non-zero mantissa), 2 +Inf, 3 −Inf, for the bits of a value whose exponent is all ones.
fn kind(bits: u32) -> u32 {
  if ((bits & 0x007fffffu) != 0u) { return 1u; }
  return select(2u, 3u, (bits >> 31u) == 1u);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let start = wg.x * ${CHUNK}u;
  let n = min(${CHUNK}u, params.values - start)${vec4 ? ' / 4u' : ''};  // ${vec4 ? 'vec4s' : 'values'} in this chunk
  let base = wg.y * params.values + start;
  // Each invocation's indices rise with j, so its first hit is its smallest; loads stay coalesced.
  var code = NONE;
  var largest = 0u;  // |value| bits: for non-negative floats the u32 order is the float order
  for (var j = 0u; j < ${CHUNK / WG / W}u; j++) {
    let k = j * ${WG}u + l;
    if (k < n) {
      ${load}
    }
  }
  first[l] = code;
  top[l] = largest;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (l < s) {
      first[l] = min(first[l], first[l + s]);
      top[l] = max(top[l], top[l + s]);
    }
    workgroupBarrier();
  }
  if (l == 0u) {
    let o = 2u * (wg.y * params.chunks + wg.x);
    out[o] = select(f32(first[0]), -1.0, first[0] == NONE);
    out[o + 1u] = bitcast<f32>(top[0]);
  }
}
`;
}

export const FINITE_CHECK_VARIANTS = {
  chunks: { summary: `one workgroup per ${CHUNK} values of an image: the first non-finite value by its bits and the largest finite |value|, workgroup reductions`, code: chunksCode },
} satisfies Record<string, VariantInfo & { code(vec4: boolean): string }>;

export type FiniteCheckVariant = keyof typeof FINITE_CHECK_VARIANTS;

export function finiteCheck(a: FiniteCheckArgs): Dispatch {
  const variant = a.variant ?? 'chunks';
  const v = variantOf('finite_check', FINITE_CHECK_VARIANTS, variant, a.label);
  if (!Number.isInteger(a.batch) || a.batch < 1 || !Number.isInteger(a.values) || a.values < 1) {
    throw new WebvitError('BAD_ARGUMENT', `${a.label}: finite_check needs at least one image of at least one value, got batch ${a.batch}, ${a.values} values`);
  }
  const chunks = finiteCheckChunks(a.values);
  const vec4 = a.values % 4 === 0;
  return {
    label: a.label,
    source: variantSource('finite_check', variant, { WG, CHUNK, vec4 }, v.code(vec4)),
    op: { name: 'finite_check', variant, shape: { batch: a.batch, values: a.values } satisfies FiniteCheckShape, withVariant: (other) => finiteCheck({ ...a, variant: other as FiniteCheckVariant }) },
    bindings: { x: a.x, out: a.out },
    uniforms: { values: a.values, chunks },
    sizes: { x: 4 * a.batch * a.values, out: 8 * a.batch * chunks },
    workgroups: [chunks, a.batch, 1],
    flops: 0,
    bytes: 4 * a.batch * (a.values + 2 * chunks),
  };
}
