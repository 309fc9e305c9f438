import { ceilDiv, sourceKey, type Binding, type Dispatch, type VariantNeeds } from '../kernel.js';
import { attentionIoWgsl } from './io.js';
import { subgroupAttentionApplies, subgroupAttentionSource } from './subgroup.js';
import { WebvitError } from '../../errors.js';

/**
 * attention/online_softmax: softmax(q·kᵀ·scale)·v for every head in one kernel, flash-attention
 * style. A workgroup takes one (image, head, block of BQ queries); each invocation owns one query,
 * holding it (pre-scaled) and its output accumulator in registers. Keys and values stream through
 * workgroup memory in tiles of BKV; each tile updates a running max m and running sum l
 * (acc ← acc·e^(m−m') + Σ e^(s−m')·v), so the T×T score matrix is never written anywhere.
 * Heads are read straight out of the fused QKV activation:
 *
 *   qkv [B, T, 3, H, Dh] (the qkv matmul's output, columns q | k | v)  ->  out [B, T, H, Dh]
 *
 * Loads are vec4 along Dh when Dh % 4 == 0 (every ViT), scalar otherwise.
 */
export interface AttentionArgs {
  label: string;
  batch: number;
  T: number;
  heads: number;
  headDim: number;
  qkv: Binding;
  out: Binding;
  /** Workgroup memory the device allows (device.limits.maxComputeWorkgroupStorageSize). */
  maxWorkgroupStorage: number;
  /** Kernel variant (ATTENTION_VARIANTS); default 'online_softmax'. */
  variant?: AttentionVariant;
}

/**
 * Attention variants; all stream keys through workgroup memory with an online softmax.
 *   online_softmax      v1: 64 queries per workgroup (default)
 *   online_softmax_q32  v2: 32 queries per workgroup: twice the workgroups (more parallelism at
 *                       batch 1, 197 tokens → 7 instead of 4 per head), twice the K/V tile loads
 *   subgroup_bcast      v3: no workgroup memory: four lanes per subgroup read each key/value row
 *                       and subgroupBroadcast it (subgroup.ts); needs 'subgroups', Dh % 4 == 0
 */
export const ATTENTION_VARIANTS = {
  online_softmax: { summary: 'online softmax, 64 queries per workgroup', BQ: 64, KT: 0 },
  online_softmax_q32: { summary: 'online softmax, 32 queries per workgroup', BQ: 32, KT: 0 },
  subgroup_bcast: {
    summary: 'keys and values shared by subgroupBroadcast, no workgroup memory or barriers',
    BQ: 32, KT: 1, requires: 'subgroups' as GPUFeatureName, minSubgroupSize: 4,
  },
} satisfies Record<string, { summary: string; BQ: number; KT: number } & VariantNeeds>;

/** Whether `variant` can compute attention with this head size (undefined) or why not. */
export function attentionInapplicable(variant: AttentionVariant, headDim: number): string | undefined {
  if (ATTENTION_VARIANTS[variant].KT > 0 && !subgroupAttentionApplies(headDim)) {
    return `attention variant ${variant} splits a head row over four lanes and needs a head dim divisible by 4 (got ${headDim}); use online_softmax`;
  }
  return undefined;
}

export type AttentionVariant = keyof typeof ATTENTION_VARIANTS;

export interface AttentionSourceParams {
  headDim: number;
  BQ: number;
  BKV: number;
}

export function attentionSource(p: AttentionSourceParams) {
  const kernel = 'attention/online_softmax';
  const { headDim: DH, BQ, BKV } = p;
  const V = DH % 4 === 0 ? 4 : 1;
  const t = V === 4 ? 'vec4<f32>' : 'f32';
  const DV = DH / V; // vectors per head row
  const dotExpr = V === 4 ? 'dot(q[c], Ks[j][c])' : 'q[c] * Ks[j][c]';
  const code = /* wgsl */ `
${attentionIoWgsl(t, DV, DH)}
const BQ = ${BQ}u;   // queries per workgroup, one per invocation
const BKV = ${BKV}u; // keys/values per tile
var<workgroup> Ks: array<array<${t}, DV>, BKV>;
var<workgroup> Vs: array<array<${t}, DV>, BKV>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let T = params.T;
  let H = params.H;
  let b = wg.z;
  let h = wg.y;
  let qi = wg.x * BQ + li;
  let valid = qi < T;
  let row = 3u * H * DV;                  // ${t} per token row of qkv
  let head = h * DV;

  var q: array<${t}, DV>;
  var acc: array<${t}, DV>;
  if (valid) {
    let qbase = (b * T + qi) * row + head;
    for (var c = 0u; c < DV; c++) { q[c] = qkv[qbase + c] * params.scale; }
  }
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, BKV>;

  for (var kv0 = 0u; kv0 < T; kv0 += BKV) {
    for (var i = li; i < BKV * DV; i += BQ) {
      let j = i / DV;
      let c = i % DV;
      let key = kv0 + j;
      if (key < T) {
        let base = (b * T + key) * row + head + c;
        Ks[j][c] = qkv[base + H * DV];
        Vs[j][c] = qkv[base + 2u * H * DV];
      }
    }
    workgroupBarrier();
    let n = min(BKV, T - kv0);
    var m_tile = m;
    for (var j = 0u; j < n; j++) {
      var d = 0.0;
      for (var c = 0u; c < DV; c++) { d += ${dotExpr}; }
      s[j] = d;
      m_tile = max(m_tile, d);
    }
    let correction = exp(m - m_tile);
    l = l * correction;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * correction; }
    for (var j = 0u; j < n; j++) {
      let p = exp(s[j] - m_tile);
      l += p;
      for (var c = 0u; c < DV; c++) { acc[c] += p * Vs[j][c]; }
    }
    m = m_tile;
    workgroupBarrier();
  }

  if (valid) {
    let obase = (b * T + qi) * H * DV + head;
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) { out[obase + c] = acc[c] * inv; }
  }
}
`;
  return { kernel, key: sourceKey(kernel, p), code };
}

export function attention(a: AttentionArgs): Dispatch {
  const variant = a.variant ?? 'online_softmax';
  if (!(variant in ATTENTION_VARIANTS)) throw new WebvitError('BAD_ARGUMENT', `${a.label}: unknown attention variant ${variant}; known: ${Object.keys(ATTENTION_VARIANTS).join(', ')}`);
  const BQ = ATTENTION_VARIANTS[variant].BQ;
  // Two K/V tiles of BKV rows of Dh floats must fit in workgroup memory.
  const BKV = Math.min(32, Math.floor(a.maxWorkgroupStorage / (2 * 4 * a.headDim)));
  if (BKV < 1) throw new WebvitError('BAD_ARGUMENT', `${a.label}: head dim ${a.headDim} needs more workgroup memory than the device's ${a.maxWorkgroupStorage} bytes`);
  const { batch, T, heads: H, headDim: DH } = a;
  const KT = ATTENTION_VARIANTS[variant].KT;
  const why = attentionInapplicable(variant, a.headDim);
  if (why) throw new WebvitError('BAD_ARGUMENT', `${a.label}: ${why}`);
  return {
    label: a.label,
    source: KT > 0 ? subgroupAttentionSource({ headDim: DH, BQ, KT }) : attentionSource({ headDim: DH, BQ, BKV }),
    bindings: { qkv: a.qkv, out: a.out },
    uniforms: { T, H, scale: 1 / Math.sqrt(DH) },
    sizes: { qkv: 4 * batch * T * 3 * H * DH, out: 4 * batch * T * H * DH },
    workgroups: [ceilDiv(T, BQ), H, batch],
    flops: 4 * batch * H * T * T * DH,
    bytes: 4 * batch * T * H * DH * (3 + 1),
  };
}
