import { clip } from '../runtime/errors.js';
import { LIMITS } from './config.js';
import { codeBytes, scaleShape, type QuantKind, type QuantizedMatrix } from '../kernels/matmul/quant.js';
import { halfToFloat, tensorAsFloat32, type Dtype, type SafetensorsFile } from './safetensors.js';
import type { WeightDeclaration } from './weights.js';

/**
 * The checks and reading of a quantised webvit file's matmul weights (docs/quantization.md,
 * docs/weights-format.md): `readWeights` calls this (through useQuantReader) when a file has
 * `webvit.quant` in its metadata: the marker is what makes a file quantised (without it, I8 and U8
 * tensors are refused as any other dtype that is not F32, F16 or BF16). In the browser bundle it is in the on-demand
 * chunk (src/on_demand.ts): a page that loads f32 or f16 models does not download it.
 *
 * Each quantised weight NAME (a tensor the graph reads as a matrix W[K, N]) is two tensors:
 *     int8: NAME I8 [K, N],             NAME_scale F32 [N]
 *     q4:   NAME U8 [ceil(K·N / 2)],    NAME_scale F16 [ceil(K / 32), N]
 * (src/model/convert/quantize.ts writes them). Checked: the marker, each code tensor's dtype and
 * shape for its declared [K, N], its scale tensor's presence, dtype and shape, and every scale
 * finite, ≥ 0 and small enough that code · scale stays within the weight limit. Codes need no
 * check: every byte is a valid code. Matmul weights without codes may stay F32/F16 in the same
 * file. Returns the quantised weights, and takes their scale tensors out of `file.tensors`, so that
 * readWeights checks the rest of the file as for any other.
 */
export function readQuantized(file: SafetensorsFile, declared: Map<string, WeightDeclaration>, views: boolean, bad: (msg: string) => never): Map<string, QuantizedMatrix> {
  const kind = file.metadata['webvit.quant'] as QuantKind;
  const coded = [...file.tensors.values()].filter((t) => t.dtype === 'I8' || t.dtype === 'U8');
  const way = 'make the file again with `webvit convert SRC -o OUT --dtype int8|q4` from the f32 or f16 model (docs/quantization.md)';
  if (kind !== 'int8' && kind !== 'q4') bad(`__metadata__["webvit.quant"] must be "int8" or "q4", got ${JSON.stringify(clip(String(kind)))}; ${way}`);
  const codeDtype: Dtype = kind === 'int8' ? 'I8' : 'U8';
  const scaleDtype: Dtype = kind === 'int8' ? 'F32' : 'F16';
  // int8: |code| ≤ 127 (the quantiser's range), so 127 · scale must stay within the weight limit;
  // q4: |code| ≤ 8 and an F16 scale is at most 65504, so 8 · 65504 always does.
  const maxScale = kind === 'int8' ? LIMITS.max_abs_weight / 127 : 65504;
  const out = new Map<string, QuantizedMatrix>();
  for (const t of coded) {
    const name = clip(t.name);
    const d = declared.get(t.name);
    if (!d) continue; // not a tensor of this config: readWeights names it with the others
    if (t.dtype !== codeDtype) bad(`tensor ${name} is ${t.dtype}, but a "webvit.quant": "${kind}" file stores its codes as ${codeDtype}; ${way}`);
    if (!d.matrix) bad(`tensor ${name} is quantised (${t.dtype}), but only matmul weights may be (this one is not read by a matmul: it must be F32, F16 or BF16); ${way}`);
    const [K, N] = d.shape;
    const codeShape = kind === 'int8' ? [K, N] : [codeBytes(kind, K, N)];
    if (t.shape.join() !== codeShape.join()) bad(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${codeShape.join(', ')}]: the ${kind} codes of a [${K}, ${N}] weight; ${way}`);
    const sname = t.name + '_scale';
    const s = file.tensors.get(sname);
    const sShape = scaleShape(kind, K, N);
    if (!s) bad(`tensor ${name} is quantised (${kind}) but its scales, ${clip(sname)} (${scaleDtype} [${sShape.join(', ')}]), are missing; ${way}`);
    if (s!.dtype !== scaleDtype || s!.shape.join() !== sShape.join()) {
      bad(`tensor ${clip(sname)} is ${s!.dtype} [${s!.shape.join(', ')}], expected ${scaleDtype} [${sShape.join(', ')}]: the ${kind} scales of the [${K}, ${N}] weight ${name}; ${way}`);
    }
    let scales: Float32Array | Uint16Array;
    if (kind === 'int8') scales = tensorAsFloat32(file, s!);
    else {
      const dv = new DataView(file.bytes.buffer, file.bytes.byteOffset + s!.begin, s!.end - s!.begin);
      scales = Uint16Array.from({ length: dv.byteLength / 2 }, (_, i) => dv.getUint16(2 * i, true));
    }
    for (let i = 0; i < scales.length; i++) {
      const v = kind === 'int8' ? scales[i] : halfToFloat(scales[i]);
      if (!((kind === 'q4' ? Math.abs(v) : v >= 0 ? v : NaN) <= maxScale)) {
        bad(
          `tensor ${clip(sname)} holds ${v} at flat index ${i} (column ${i % N}): a scale must be finite, ${kind === 'q4' ? 'of magnitude' : '≥ 0 and'} at most ${+maxScale.toPrecision(5)} ` +
            `(so that every weight code · scale is within ±${LIMITS.max_abs_weight.toExponential()}); the file is damaged or not written by webvit: ${way}`,
        );
      }
    }
    const codes = file.bytes.subarray(t.begin, t.end);
    // views: a caller that owns the bytes (readWeights): the codes stay in the file's buffer.
    out.set(t.name, { kind, K, N, codes: views ? codes : new Uint8Array(codes), scales });
    file.tensors.delete(sname);
  }
  if (!out.size) bad(`__metadata__ says "webvit.quant": "${kind}", but no tensor the config reads holds ${codeDtype} codes; remove the key, or ${way}`);
  return out;
}
