import { ceilDiv, variantSource, type Binding, type Dispatch } from '../kernel.js';
import { variantOf, type VariantInfo } from '../definition.js';
import { DEFAULT_TILE, tiledMatmulWgsl, type TiledMatmulShape } from '../matmul/tiled.js';
import { WebvitError } from '../../errors.js';
import { weightBytes, weightRead, type WeightStorage } from '../matmul/weight_read.js';

/**
 * patch_embed/tiled_gather: the stride-P, P×P convolution as a matmul whose A operand is gathered
 * straight from the NCHW image (no im2col buffer), with the class token and the position
 * embeddings added in the same pass:
 *
 *   image [B, C, S, S] -> tokens [B, T, D],  T = prefix + (S/P)²
 *   tokens[b, 0, :] = cls + pos[0]                        (when there is a class token)
 *   tokens[b, 1, :] = dist + pos[1]                       (DeiT distillation token)
 *   tokens[b, 1 + r, :] = reg[r] + pos[1 + r]             (DINOv2's register tokens, r < R; their pos rows are 0)
 *   tokens[b, t, :] = patch(b, t−prefix)·W + bias + pos[t]  (patch k = c·P·P + ky·P + kx)
 *
 * It is the tiled matmul (matmul/tiled.ts) with a pixel loader and an embedding epilogue; loads
 * are vec4 along kx when P % 4 == 0 (4 neighbouring pixels of one row).
 */
export interface PatchEmbedArgs {
  label: string;
  batch: number;
  channels: number;
  imageSize: number;
  patchSize: number;
  D: number;
  image: Binding;
  /** W [C·P·P, D] */
  w: Binding;
  bias: Binding;
  /** Class token [D]; omitted for models without one. */
  cls?: Binding;
  /** Distillation token [D] (DeiT); only with a class token. */
  dist?: Binding;
  /** Register tokens [R, D] after the class token (DINOv2 with registers); only with a class token, not with dist. */
  registers?: { tokens: Binding; count: number };
  /** pos [T, D] */
  pos: Binding;
  out: Binding;
  tile?: TiledMatmulShape;
  /** How W is stored (weight_read.ts, as for matmul; default f32), and its scales when quantised. */
  wStorage?: WeightStorage;
  wScale?: Binding;
  /** Kernel variant (PATCH_EMBED_VARIANTS); default 'tiled_gather'. */
  variant?: PatchEmbedVariant;
}

/** A patch-embedding problem as the definition reads it off a dispatch. */
export interface PatchEmbedShape {
  batch: number;
  channels: number;
  imageSize: number;
  patchSize: number;
  D: number;
  /** Prefix tokens: 0 (none), 1 (class), 2 (class, distillation), or 1 + registers. */
  prefix: number;
  /** Register tokens among the prefix (after the class token); absent: none. */
  registers?: number;
}

export interface PatchEmbedSourceParams {
  /** Prefix tokens before the patches: 0, 1 (class) or 2 (class, distillation), or 1 + registers. */
  prefix: number;
  /** Register tokens (absent: none): prefix rows 1 … registers. */
  registers?: number;
  tile: TiledMatmulShape;
  w: WeightStorage;
  vecA: boolean;
  vecN: boolean;
}

/** The WGSL of patch_embed/tiled_gather. */
export function patchEmbedCode(p: PatchEmbedSourceParams): string {
  const v = p.vecN ? 'vec4<f32>' : 'f32';
  const bindings = [
    `@group(0) @binding(?) var<storage, read> image: array<${p.vecA ? 'vec4<f32>' : 'f32'}>; // [B, C, S, S]`,
    `@group(0) @binding(?) var<storage, read> bias: array<${v}>; // [D]`,
    ...(p.prefix >= 1 ? [`@group(0) @binding(?) var<storage, read> cls: array<${v}>;  // [D]`] : []),
    ...(p.prefix >= 2 && !p.registers ? [`@group(0) @binding(?) var<storage, read> dist: array<${v}>; // [D]`] : []),
    ...(p.registers ? [`@group(0) @binding(?) var<storage, read> reg: array<${v}>;  // [R, D]`] : []),
    `@group(0) @binding(?) var<storage, read> pos: array<${v}>;  // [T, D]`,
    `@group(0) @binding(?) var<storage, read_write> out: array<${v}>; // [B, T, D]`,
  ];
  const loadA = /* wgsl */ `
fn pixel_index(row: u32, k: u32) -> u32 {
  let b = row / params.T;
  let pi = row % params.T - ${p.prefix}u;          // patch index (caller excludes prefix rows)
  let py = pi / params.G;
  let px = pi % params.G;
  let PP = params.P * params.P;
  let c = k / PP;
  let r = k % PP;
  let y = py * params.P + r / params.P;
  let x = px * params.P + r % params.P;
  return ((b * params.C + c) * params.S + y) * params.S + x;
}
fn load_a(row: u32, k: u32) -> ${p.vecA ? 'vec4<f32>' : 'f32'} {
  if (row % params.T < ${p.prefix}u) { return ${p.vecA ? 'vec4<f32>(0.0)' : '0.0'}; } // prefix-token row
  return image[pixel_index(row, k)${p.vecA ? ' / 4u' : ''}];
}`;
  const col = p.vecN ? 'col / 4u' : 'col';
  const store = /* wgsl */ `let t = row % params.T;
        var y = pos[${p.vecN ? '(t * params.N + col) / 4u' : 't * params.N + col'}];
        ${p.prefix === 0 ? '' : `if (t == 0u) { y += cls[${col}]; } else `}${p.registers ? `if (t <= ${p.registers}u) { y += reg[${p.vecN ? '((t - 1u) * params.N + col) / 4u' : '(t - 1u) * params.N + col'}]; } else ` : p.prefix === 2 ? `if (t == 1u) { y += dist[${col}]; } else ` : ''}{ y += ${weightRead(p.w).scaleOut?.('v', p.vecN) ?? 'v'} + bias[${col}]; }
        out[${p.vecN ? '(row * params.N + col) / 4u' : 'row * params.N + col'}] = y;`;
  return tiledMatmulWgsl(
    { tile: p.tile, vecA: p.vecA, vecN: p.vecN, w: p.w },
    { params: ['T: u32', 'G: u32', 'P: u32', 'C: u32', 'S: u32'], bindings, loadA, store },
  );
}

export const PATCH_EMBED_VARIANTS = {
  tiled_gather: { summary: 'the tiled matmul with pixels gathered from the NCHW image (no im2col) and an embedding epilogue', code: patchEmbedCode },
} satisfies Record<string, VariantInfo & { code(p: PatchEmbedSourceParams): string }>;

export type PatchEmbedVariant = keyof typeof PATCH_EMBED_VARIANTS;

export function patchEmbed(a: PatchEmbedArgs): Dispatch {
  const { batch, channels: C, imageSize: S, patchSize: P, D } = a;
  if (S % P !== 0) throw new WebvitError('BAD_ARGUMENT', `${a.label}: image size ${S} is not divisible by patch size ${P}`);
  const G = S / P;
  const R = a.registers?.count ?? 0;
  const prefix = a.cls ? (a.dist ? 2 : 1 + R) : 0;
  if (a.dist && !a.cls) throw new WebvitError('BAD_ARGUMENT', `${a.label}: a distillation token needs a class token`);
  if (R && (!a.cls || a.dist || !Number.isInteger(R) || R < 1)) throw new WebvitError('BAD_ARGUMENT', `${a.label}: register tokens (a whole count ≥ 1) go after a class token, without a distillation token`);
  const T = prefix + G * G;
  const K = C * P * P;
  const M = batch * T;
  const tile = a.tile ?? DEFAULT_TILE;
  const variant = a.variant ?? 'tiled_gather';
  const v = variantOf('patch_embed', PATCH_EMBED_VARIANTS, variant, a.label);
  // `registers` only when there are some: the ViT's code and cache key stay exactly as they were.
  const params = { prefix, ...(R ? { registers: R } : {}), tile, vecA: P % 4 === 0, vecN: D % 4 === 0, w: a.wStorage ?? 'f32' };
  const scale = weightRead(params.w).scale;
  if (!scale !== !a.wScale) throw new WebvitError('BAD_ARGUMENT', `${a.label}: a wScale binding is needed exactly for quantised weights`);
  return {
    label: a.label,
    source: variantSource('patch_embed', variant, { ...params, tile: `${tile.BM}x${tile.BN}x${tile.BK}` }, v.code(params)),
    op: {
      name: 'patch_embed', variant, shape: { batch, channels: C, imageSize: S, patchSize: P, D, prefix, ...(R ? { registers: R } : {}) } satisfies PatchEmbedShape,
      withVariant: (other) => patchEmbed({ ...a, variant: other as PatchEmbedVariant }),
    },
    bindings: { image: a.image, w: a.w, bias: a.bias, pos: a.pos, out: a.out, ...(a.cls ? { cls: a.cls } : {}), ...(a.dist ? { dist: a.dist } : {}), ...(R ? { reg: a.registers!.tokens } : {}), ...(a.wScale ? { wscale: a.wScale } : {}) },
    uniforms: { M, N: D, K, T, G, P, C, S },
    sizes: {
      image: 4 * batch * C * S * S,
      w: weightBytes(params.w, K, D),
      ...(scale ? { wscale: scale.bytes(K, D) } : {}),
      bias: 4 * D,
      pos: 4 * T * D,
      out: 4 * M * D,
      ...(a.cls ? { cls: 4 * D } : {}),
      ...(a.dist ? { dist: 4 * D } : {}),
      ...(R ? { reg: 4 * R * D } : {}),
    },
    workgroups: [ceilDiv(D, tile.BN), ceilDiv(M, tile.BM), 1],
    flops: 2 * batch * G * G * K * D,
    bytes: 4 * (batch * C * S * S + T * D + M * D) + weightBytes(params.w, K, D),
  };
}
