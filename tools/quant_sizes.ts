/**
 * Weight-file sizes of ViT-Ti/16, S/16 and B/16 (224 px, 1000 classes) in f32, f16, int8 and q4
 * (docs/quantization.md, BENCHMARKS.md): seeded random weights at each preset's shapes, encoded by
 * the converter's own encoder (encodeWeights), each file read back by the loader (readWeights) to
 * check it. Sizes do not depend on the values, except that every file here is checked.
 *
 *     node tools/run_ts.mjs tools/quant_sizes.ts [--only vit_base_patch16_224]
 *
 * Prints a Markdown table: bytes in MB (10^6) and the ratio to f32, and for the quantised files
 * the bits per matmul weight (codes + scales) and the bytes the GPU holds for the weights.
 */
import { presetConfig, type ViTPresetName } from '../src/model/config.js';
import { encodeWeights, type OutputDtype } from '../src/model/convert/index.js';
import { declaredWeights, readWeights, useQuantReader, type LoadedWeights } from '../src/model/weights.js';
import { readQuantized } from '../src/model/quant_weights.js';
import { randn, rng } from '../src/kernels/sample.js';

useQuantReader(readQuantized);
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const PRESETS: [string, ViTPresetName][] = [
  ['ViT-Ti/16', 'vit_tiny_patch16_224'],
  ['ViT-S/16', 'vit_small_patch16_224'],
  ['ViT-B/16', 'vit_base_patch16_224'],
];
const DTYPES: [string, OutputDtype][] = [['f32', 'F32'], ['f16', 'F16'], ['int8', 'int8'], ['q4', 'q4']];
const mb = (n: number) => (n / 1e6).toFixed(1);

console.log('| model | parameters | f32 MB | f16 MB | int8 MB | q4 MB | int8 bits/matmul weight | q4 bits/matmul weight |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [label, preset] of PRESETS) {
  if (only && only !== preset) continue;
  const config = presetConfig(preset, { num_classes: 1000 });
  const r = rng(21);
  const tensors = new Map<string, Float32Array>();
  for (const [name, d] of declaredWeights(config)) {
    const n = d.shape.reduce((a, b) => a * b, 1);
    tensors.set(name, randn(r, n, d.matrix ? 1 / Math.sqrt(d.shape[0]) : 0.02));
  }
  const w: LoadedWeights = { config, tensors };
  const params = [...tensors.values()].reduce((a, t) => a + t.length, 0);
  const sizes: Record<string, number> = {};
  const bits: Record<string, string> = {};
  for (const [name, dtype] of DTYPES) {
    const bytes = encodeWeights(w, dtype);
    const back = readWeights(bytes, `${label} ${name}`);
    sizes[name] = bytes.byteLength;
    if (back.quant) {
      const q = [...back.quant.values()];
      const values = q.reduce((a, m) => a + m.K * m.N, 0);
      bits[name] = ((8 * q.reduce((a, m) => a + m.codes.byteLength + m.scales.byteLength, 0)) / values).toFixed(2);
    }
  }
  console.log(`| ${label} | ${(params / 1e6).toFixed(1)} M | ${DTYPES.map(([n]) => `${mb(sizes[n])}${n === 'f32' ? '' : ` (${((100 * sizes[n]) / sizes.f32).toFixed(1)} %)`}`).join(' | ')} | ${bits.int8} | ${bits.q4} |`);
}
