import { WebvitError } from '../../errors.js';

/**
 * How a matmul's W [K, N] is stored on the GPU, and the one place that writes the WGSL reading
 * it: every variant declares `w` (and `wscale` for quantised weights) and calls
 * `load_w4(k, n)` (vecN: columns n..n+3, n % 4 == 0) or `load_w(k, n)` from here, getting f32.
 *   f32   as is
 *   f16   IEEE halves, two per u32 (unpack2x16float: core WGSL, no shader-f16)
 *   int8  codes one byte each (src/kernels/matmul/quant.ts), per-column scale applied once per
 *         output in the epilogue (`scaleOut`)
 *   q4    codes a nibble each, the f16 scale of their block of 32 rows applied while loading
 * The int8 and q4 readers live in quant_read.ts (the browser loads them with a quantised model,
 * from the on-demand chunk) and are added with registerWeightReads.
 */
export type WeightStorage = 'f32' | 'f16' | 'int8' | 'q4';

export interface WeightRead {
  /** Bits per weight in `w` (its buffer: ceil(bits·K·N / 32) u32 words). */
  bits: number;
  /** Element type of `w`: [vecN, scalar]. */
  type: [string, string];
  /** `load_w4` (vecN) or `load_w`. */
  load(vecN: boolean): string;
  /** The scale binding: its declaration for outputs of type `v`, and its size in bytes. */
  scale?: { decl(vecN: boolean, v: string): string; bytes(K: number, N: number): number };
  /**
   * q4: rows of K that share a scale. Its vec4 loader then also defines `load_c4(k, n)` (the
   * codes alone) and `scale_w4(k, n)` (their scale), so that a kernel walking K may sum codes
   * over a block and scale once (register.ts).
   */
  block?: number;
  /** Random codes and scales of a K×N weight, as u32 words for upload (the tuner's samples). */
  sample?(rand: () => number, K: number, N: number): { w: Float32Array; wscale: Float32Array };
  /** The accumulated value `val` of output column `col` scaled (int8: per column, in the epilogue). */
  scaleOut?(val: string, vecN: boolean): string;
}

const READS: Partial<Record<WeightStorage, WeightRead>> = {
  f32: {
    bits: 32,
    type: ['vec4<f32>', 'f32'],
    load: (vecN) => (vecN ? `fn load_w4(k: u32, n: u32) -> vec4<f32> { return w[(k * params.N + n) / 4u]; }` : `fn load_w(k: u32, n: u32) -> f32 { return w[k * params.N + n]; }`),
  },
  f16: {
    bits: 16,
    type: ['vec2<u32>', 'u32'],
    load: (vecN) =>
      vecN
        ? `fn load_w4(k: u32, n: u32) -> vec4<f32> { let h = w[(k * params.N + n) / 4u]; return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y)); }`
        : `fn load_w(k: u32, n: u32) -> f32 { let i = k * params.N + n; return unpack2x16float(w[i / 2u])[i % 2u]; }`,
  },
};

/** Adds readers (quant_read.ts's int8 and q4). */
export function registerWeightReads(r: Partial<Record<WeightStorage, WeightRead>>): void {
  Object.assign(READS, r);
}

export function weightRead(s: WeightStorage): WeightRead {
  const r = READS[s];
  if (!r) throw new WebvitError('BAD_ARGUMENT', `matmul: ${s} weights need their readers registered first (a model with quantised weights loads them: registerWeightReads)`);
  return r;
}

/** The declarations of `w` and its scales (`@binding(?)`, numbered by numberBindings). */
export function weightDecl(s: WeightStorage, vecN: boolean, v: string): string {
  const r = weightRead(s);
  return `@group(0) @binding(?) var<storage, read> w: array<${r.type[vecN ? 0 : 1]}>; // [K, N] ${s}\n${r.scale?.decl(vecN, v) ?? ''}`;
}

/** Numbers every `@binding(?)` of `src` in order from 0. */
export function numberBindings(src: string): string {
  let b = 0;
  return src.replace(/@binding\(\?\)/g, () => `@binding(${b++})`);
}

/** Bytes of `w` for K×N weights stored as `s` (whole u32 words). */
export const weightBytes = (s: WeightStorage, K: number, N: number): number => 4 * Math.ceil((weightRead(s).bits * K * N) / 32);
