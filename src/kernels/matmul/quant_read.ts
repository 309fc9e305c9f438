import type { WeightRead, WeightStorage } from './weight_read.js';
import { Q4_BLOCK } from './quant.js';
import { randn } from '../sample.js';

/** `n` random u32 words (`f` of a uniform draw), as a Float32Array view for upload: bits kept, never read as floats. */
const words = (rand: () => number, n: number, f: (x: number) => number) => new Float32Array(Uint32Array.from({ length: n }, () => f(rand())).buffer);
const bits = (x: number) => x * 2 ** 32;

/**
 * The int8 and q4 weight readers (layout: quant.ts), registered with registerWeightReads when a
 * model with quantised weights loads (in the browser, from the on-demand chunk). Codes are read as
 * u32 words; a code is sign-extended by shifting it to the top of an i32 and shifting back
 * (arithmetic shift), four at a time as vec4<i32> with constant shifts. q4 first spreads its four
 * nibbles into the four bytes of a word (one variable shift of a scalar), which measured 15–20 %
 * faster on lavapipe than shifting each lane by 4·(i % 8) + a constant. extractBits on i32 and
 * unpack4xI8 (a WGSL language feature) measured the same or slower (BENCHMARKS.md, "quantised
 * weights"), so only core WGSL is used.
 */
export const QUANT_READS: Partial<Record<WeightStorage, WeightRead>> = {
  // One byte per code; W ≈ code · wscale[n]: the per-column scale multiplies each output once.
  int8: {
    bits: 8,
    type: ['u32', 'u32'],
    load: (vecN) =>
      vecN
        ? `fn load_w4(k: u32, n: u32) -> vec4<f32> { let x = vec4<i32>(bitcast<i32>(w[(k * params.N + n) / 4u])); return vec4<f32>((x << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }`
        : `fn load_w(k: u32, n: u32) -> f32 { let i = k * params.N + n; return f32(extractBits(bitcast<i32>(w[i / 4u]), 8u * (i % 4u), 8u)); }`,
    scale: {
      decl: (_vecN, v) => `@group(0) @binding(?) var<storage, read> wscale: array<${v}>; // [N] f32: W = code · wscale`,
      bytes: (_K, N) => 4 * N,
    },
    scaleOut: (val, vecN) => `${val} * wscale[${vecN ? 'col / 4u' : 'col'}]`,
    // Any byte is a code; scales near a trained layer's (0.01).
    sample: (rand, K, N) => ({ w: words(rand, Math.ceil((K * N) / 4), bits), wscale: randn(rand, N, 0.002, 0.01) }),
  },
  // A nibble per code, eight per word; W ≈ code · wscale[k / 32, n] (f16, two per u32).
  q4: {
    bits: 4,
    type: ['u32', 'u32'],
    block: Q4_BLOCK,
    load: (vecN) =>
      vecN
        ? `fn load_c4(k: u32, n: u32) -> vec4<f32> {
  let i = k * params.N + n;
  let x = (w[i / 8u] >> (4u * (i % 8u))) & 0xffffu;
  let b = vec4<i32>(bitcast<i32>((x & 0xfu) | ((x & 0xf0u) << 4u) | ((x & 0xf00u) << 8u) | ((x & 0xf000u) << 12u)));
  return vec4<f32>((b << vec4<u32>(28u, 20u, 12u, 4u)) >> vec4<u32>(28u));
}
fn scale_w4(k: u32, n: u32) -> vec4<f32> {
  let s = wscale[((k / ${Q4_BLOCK}u) * params.N + n) / 4u];
  return vec4<f32>(unpack2x16float(s.x), unpack2x16float(s.y));
}
fn load_w4(k: u32, n: u32) -> vec4<f32> { return load_c4(k, n) * scale_w4(k, n); }`
        : `fn load_w(k: u32, n: u32) -> f32 {
  let i = k * params.N + n;
  let j = (k / ${Q4_BLOCK}u) * params.N + n;
  return f32(extractBits(bitcast<i32>(w[i / 8u]), 4u * (i % 8u), 4u)) * unpack2x16float(wscale[j / 2u])[j % 2u];
}`,
    scale: {
      decl: (vecN) => `@group(0) @binding(?) var<storage, read> wscale: array<${vecN ? 'vec2<u32>' : 'u32'}>; // [ceil(K / ${Q4_BLOCK}), N] f16 pairs`,
      bytes: (K, N) => 4 * Math.ceil((Math.ceil(K / Q4_BLOCK) * N) / 2),
    },
    // Any nibble is a code; scales: halves 0x2000..0x23ff (0.0078..0.0156), two per word.
    sample: (rand, K, N) => ({ w: words(rand, Math.ceil((K * N) / 8), bits), wscale: words(rand, Math.ceil((Math.ceil(K / Q4_BLOCK) * N) / 2), (x) => 0x20002000 + Math.floor(x * 1024) * 0x10001) }),
  },
};
