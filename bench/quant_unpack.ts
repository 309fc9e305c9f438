// How the int8 / q4 codes are unpacked (issue 21; BENCHMARKS.md, "quantised weights"): the same
// matmul with f32, f16, int8 and q4 weights, the quantised ones with each way of unpacking codes
// (shift: quant_read.ts, constant vec4 shifts; for q4 after spreading the nibbles into bytes;
// lanes: q4 as first written, each lane shifted by 4·(i % 8) + a constant; unpack: unpack4xI8,
// for q4 after the same spreading; extract: extractBits per code), each
// validated against float64 (relative L2 ≤ 1e-5), then timed in turns (GPU timestamps, median).
//   npx esbuild bench/quant_unpack.ts --bundle --platform=node --format=esm --external:webgpu \
//     --outfile=.webvit-cache/quant_unpack.mjs && VARIANTS=subgroup_16x4,subgroup_8x4 node .webvit-cache/quant_unpack.mjs
import { getNodeDevice } from '../src/runtime/node-device.js';
import { StandaloneDispatch } from '../src/runtime/standalone.js';
import { linear, type MatmulVariant } from '../src/kernels/matmul/op.js';
import { linearRef } from '../src/kernels/matmul/reference.js';
import { quantize, dequantize } from '../src/kernels/matmul/quant.js';
import { QUANT_READS } from '../src/kernels/matmul/quant_read.js';
import { registerWeightReads, type WeightStorage } from '../src/kernels/matmul/weight_read.js';
import { floatToHalf, halfToFloat } from '../src/kernels/half.js';

const ALTS: Record<string, typeof QUANT_READS> = { shift: QUANT_READS };
for (const ALT of ['unpack', 'extract', 'lanes']) {
const reads = { ...QUANT_READS };
ALTS[ALT] = reads;
if (ALT === 'unpack') {
  reads.int8 = { ...reads.int8!, load: (vecN) => (vecN ? `fn load_w4(k: u32, n: u32) -> vec4<f32> { return vec4<f32>(unpack4xI8(w[(k * params.N + n) / 4u])); }` : QUANT_READS.int8!.load(false)) };
  reads.q4 = { ...reads.q4!, load: (vecN) => (vecN ? `fn load_c4(k: u32, n: u32) -> vec4<f32> {
  let i = k * params.N + n;
  let x = (w[i / 8u] >> (4u * (i % 8u))) & 0xffffu;
  let b = (x & 0xfu) | ((x & 0xf0u) << 4u) | ((x & 0xf00u) << 8u) | ((x & 0xf000u) << 12u);
  return vec4<f32>(unpack4xI8(b << 4u) >> vec4<u32>(4u));
}
fn scale_w4(k: u32, n: u32) -> vec4<f32> { let s = wscale[((k / 32u) * params.N + n) / 4u]; return vec4<f32>(unpack2x16float(s.x), unpack2x16float(s.y)); }
fn load_w4(k: u32, n: u32) -> vec4<f32> { return load_c4(k, n) * scale_w4(k, n); }` : QUANT_READS.q4!.load(false)) };
} else if (ALT === 'lanes') {
  reads.q4 = { ...reads.q4!, load: (vecN) => (vecN ? `fn load_c4(k: u32, n: u32) -> vec4<f32> {
  let i = k * params.N + n;
  let x = vec4<i32>(bitcast<i32>(w[i / 8u]));
  return vec4<f32>((x << (vec4<u32>(28u, 24u, 20u, 16u) - 4u * (i % 8u))) >> vec4<u32>(28u));
}
fn scale_w4(k: u32, n: u32) -> vec4<f32> { let s = wscale[((k / 32u) * params.N + n) / 4u]; return vec4<f32>(unpack2x16float(s.x), unpack2x16float(s.y)); }
fn load_w4(k: u32, n: u32) -> vec4<f32> { return load_c4(k, n) * scale_w4(k, n); }` : QUANT_READS.q4!.load(false)) };
} else if (ALT === 'extract') {
  reads.int8 = { ...reads.int8!, load: (vecN) => (vecN ? `fn load_w4(k: u32, n: u32) -> vec4<f32> { let x = bitcast<i32>(w[(k * params.N + n) / 4u]); return vec4<f32>(f32(extractBits(x, 0u, 8u)), f32(extractBits(x, 8u, 8u)), f32(extractBits(x, 16u, 8u)), f32(extractBits(x, 24u, 8u))); }` : QUANT_READS.int8!.load(false)) };
  reads.q4 = { ...reads.q4!, load: (vecN) => (vecN ? `fn load_c4(k: u32, n: u32) -> vec4<f32> {
  let i = k * params.N + n;
  let x = bitcast<i32>(w[i / 8u]);
  let o = 4u * (i % 8u);
  return vec4<f32>(f32(extractBits(x, o, 4u)), f32(extractBits(x, o + 4u, 4u)), f32(extractBits(x, o + 8u, 4u)), f32(extractBits(x, o + 12u, 4u)));
}
fn scale_w4(k: u32, n: u32) -> vec4<f32> { let s = wscale[((k / 32u) * params.N + n) / 4u]; return vec4<f32>(unpack2x16float(s.x), unpack2x16float(s.y)); }
fn load_w4(k: u32, n: u32) -> vec4<f32> { return load_c4(k, n) * scale_w4(k, n); }` : QUANT_READS.q4!.load(false)) };
}
}

const words = (b: Uint8Array) => { const p = new Uint8Array(Math.ceil(b.byteLength / 4) * 4); p.set(b); return new Float32Array(p.buffer); };
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
let seed = 7;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
const relL2 = (g: Float32Array, w: Float64Array) => { let n = 0, d = 0; for (let i = 0; i < w.length; i++) { n += (g[i] - w[i]) ** 2; d += w[i] ** 2; } return Math.sqrt(n / d); };

const device = await getNodeDevice();
const variants = (process.env.VARIANTS ?? 'subgroup_8x4,register_4x4').split(',') as MatmulVariant[];
const shapes = [[197, 192, 576], [197, 192, 768], [197, 768, 192], [1, 192, 1000]]; // ViT-Ti/16 batch 1: qkv, fc1, fc2, head
const RUNS = Number(process.env.RUNS ?? 15);
for (const [M, K, N] of shapes) {
  const a = Float32Array.from({ length: M * K }, rand);
  const w32 = Float32Array.from({ length: K * N }, () => rand() / Math.sqrt(K));
  const bias = Float32Array.from({ length: N }, rand);
  for (const variant of variants) {
    const cases: { name: string; sd: StandaloneDispatch; ts: number[] }[] = [];
    for (const [s, alt] of [['f32', ''], ['f16', ''], ['int8', 'shift'], ['int8', 'unpack'], ['int8', 'extract'], ['q4', 'shift'], ['q4', 'lanes'], ['q4', 'unpack'], ['q4', 'extract']] as [WeightStorage, string][]) {
      if (alt) registerWeightReads(ALTS[alt]);
      let w: Float32Array, wref: ArrayLike<number>, wscale: Float32Array | undefined;
      if (s === 'f32') { w = w32; wref = w32; }
      else if (s === 'f16') { const h = Uint16Array.from(w32, floatToHalf); w = words(bytes(h)); wref = Float32Array.from(h, halfToFloat); }
      else { const q = quantize(w32, K, N, s); w = words(q.codes); wscale = words(bytes(q.scales)); wref = dequantize(q); }
      const inputs: Record<string, Float32Array> = { a, w, bias, ...(wscale ? { wscale } : {}) };
      const sd = await StandaloneDispatch.create(device, (b) => {
        const d = linear({ label: 'q', M, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue: 'none', variant, wStorage: s, wScale: wscale ? b.wscale : undefined });
        return { ...d, source: { ...d.source, key: d.source.key + alt, code: d.source.code } };
      }, { inputs, outputs: { out: M * N } });
      sd.poison(); await sd.run();
      const err = relL2(await sd.read('out'), linearRef(a, wref, bias, undefined, M, K, N, 'none'));
      if (!(err <= 1e-5)) throw new Error(`${variant} ${s} ${alt} FAILED ${err}`);
      await sd.time();
      cases.push({ name: `${s}${alt ? '/' + alt : ''}`, sd, ts: [] });
    }
    for (let r = 0; r < RUNS; r++) for (const c of cases) c.ts.push((await c.sd.time()).ms);
    const med = (t: number[]) => [...t].sort((x, y) => x - y)[t.length >> 1];
    console.log(`${variant} ${M}x${K}x${N} (validated, rel L2 <= 1e-5; median of ${RUNS}, interleaved): ${cases.map((c) => `${c.name} ${med(c.ts).toFixed(3)}`).join('  ')}`);
    for (const c of cases) c.sd.destroy();
  }
}
device.destroy();
