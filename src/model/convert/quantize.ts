import { codeBytes, quantize, scaleShape, type QuantKind } from '../../kernels/matmul/quant.js';
import type { RawTensorToWrite } from '../safetensors_write.js';

/**
 * The converter's quantisation step (`webvit convert --dtype int8|q4`, docs/quantization.md): one
 * matmul weight W[K, N] in, the two tensors the weight file stores for it out, with the bytes the
 * GPU uploads as they are (the codes and scales of src/kernels/matmul/quant.ts, the one definition):
 *
 *     int8: NAME        I8  [K, N]              code k·N + n at byte k·N + n
 *           NAME_scale  F32 [N]
 *     q4:   NAME        U8  [ceil(K·N / 2)]     code i in byte i >> 1, low nibble for even i
 *           NAME_scale  F16 [ceil(K / 32), N]
 *
 * q4's codes are a flat byte list: with N odd a row of W does not end on a byte.
 */
export const QUANT_SCALE_SUFFIX = '_scale';

/** The stored tensors of one quantised weight (safetensors is little-endian, as the arrays are here). */
export function quantizeTensor(name: string, data: Float32Array, shape: number[], kind: QuantKind): RawTensorToWrite[] {
  if (shape.length !== 2) throw new Error(`internal: ${name} [${shape}] is read as a matrix but is not 2-D`);
  const [K, N] = shape;
  const q = quantize(data, K, N, kind, name);
  const s = q.scales;
  return [
    { name, shape: kind === 'int8' ? [K, N] : [codeBytes(kind, K, N)], dtype: kind === 'int8' ? 'I8' : 'U8', bytes: q.codes },
    { name: name + QUANT_SCALE_SUFFIX, shape: scaleShape(kind, K, N), dtype: kind === 'int8' ? 'F32' : 'F16', bytes: new Uint8Array(s.buffer, s.byteOffset, s.byteLength) },
  ];
}
