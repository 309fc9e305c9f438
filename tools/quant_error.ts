/**
 * How far quantised weights are from the weights (docs/quantization.md): for each matmul weight of
 * a webvit file, ‖W − Ŵ‖ / ‖W‖ (relative RMS) of int8 and q4 as webvit stores them
 * (src/kernels/matmul/quant.ts), next to q4 variants webvit does not store, to show what the
 * layout choices buy: one scale per whole column (no blocks along K), blocks of 16 (the bits of an
 * asymmetric q4), and an asymmetric q4 (blocks of 32, f16 scale and f16 minimum, codes 0..15:
 * Ŵ = code · s + min). Bits per weight in the header: codes plus scales (plus minimums).
 *
 *     node tools/run_ts.mjs tools/quant_error.ts models/fashion-mnist/model.safetensors [...]
 *
 * Weight error only: what it does to the logits is the parity check's (issue 21).
 */
import { readFileSync } from 'node:fs';
import { dequantize, quantize, Q4_BLOCK } from '../src/kernels/matmul/quant.js';
import { floatToHalf, halfToFloat } from '../src/kernels/half.js';
import { declaredWeights, readWeights } from '../src/model/weights.js';

const rint = (x: number) => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
const f16 = (x: number) => halfToFloat(floatToHalf(x));

/** Symmetric q4 (±7, f16 scale) with blocks of `block` rows along K (K: one scale per column). */
function symmetricQ4(w: Float32Array, K: number, N: number, block: number): Float64Array {
  const out = new Float64Array(K * N);
  for (let k0 = 0; k0 < K; k0 += block) {
    const k1 = Math.min(K, k0 + block);
    for (let n = 0; n < N; n++) {
      let max = 0;
      for (let k = k0; k < k1; k++) max = Math.max(max, Math.abs(w[k * N + n]));
      const s = f16(max / 7);
      for (let k = k0; k < k1; k++) out[k * N + n] = s === 0 ? 0 : Math.min(7, Math.max(-8, rint(w[k * N + n] / s))) * s;
    }
  }
  return out;
}

/** Asymmetric q4 in blocks of 32 along K: s = f16((max − min) / 15), m = f16(min), code 0..15. */
function asymmetricQ4(w: Float32Array, K: number, N: number): Float64Array {
  const out = new Float64Array(K * N);
  for (let k0 = 0; k0 < K; k0 += Q4_BLOCK) {
    const k1 = Math.min(K, k0 + Q4_BLOCK);
    for (let n = 0; n < N; n++) {
      let lo = Infinity, hi = -Infinity;
      for (let k = k0; k < k1; k++) (lo = Math.min(lo, w[k * N + n])), (hi = Math.max(hi, w[k * N + n]));
      const s = f16((hi - lo) / 15), m = f16(lo);
      for (let k = k0; k < k1; k++) out[k * N + n] = s === 0 ? m : Math.min(15, Math.max(0, rint((w[k * N + n] - m) / s))) * s + m;
    }
  }
  return out;
}

function relErr(w: Float32Array, d: ArrayLike<number>): number {
  let e = 0, s = 0;
  for (let i = 0; i < w.length; i++) (e += (w[i] - d[i]) ** 2), (s += w[i] ** 2);
  return Math.sqrt(e / s);
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
for (const path of process.argv.slice(2)) {
  const w = readWeights(new Uint8Array(readFileSync(path)), path);
  console.log(`\n${path}\n`);
  console.log('| weight (K × N) | int8 (8.0 bits) | q4: blocks of 32 (4.5) | q4, one scale per column (≈4.0) | q4, blocks of 16 (5.0) | q4 asymmetric, blocks of 32 (5.0) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const sums = [0, 0, 0, 0, 0];
  let total = 0;
  for (const [name, d] of declaredWeights(w.config)) {
    if (!d.matrix) continue;
    const [K, N] = d.shape;
    const t = w.tensors.get(name)!;
    const errs = [relErr(t, dequantize(quantize(t, K, N, 'int8'))), relErr(t, dequantize(quantize(t, K, N, 'q4'))), relErr(t, symmetricQ4(t, K, N, K)), relErr(t, symmetricQ4(t, K, N, 16)), relErr(t, asymmetricQ4(t, K, N))];
    errs.forEach((e, i) => (sums[i] += e * e * t.length));
    total += t.length;
    if (!/^blocks\.(?!0\.)/.test(name)) console.log(`| ${name} (${K} × ${N}) | ${errs.map(pct).join(' | ')} |`);
  }
  console.log(`| all matmul weights (RMS over values) | ${sums.map((s) => pct(Math.sqrt(s / total))).join(' | ')} |`);
}
