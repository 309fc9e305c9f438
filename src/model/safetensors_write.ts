import { clip, WebvitError } from '../runtime/errors.js';
import { oneLine } from './json_preview.js';
import { DTYPE_BYTES, floatToHalf, type Dtype } from './safetensors.js';

/**
 * Writing safetensors files (the converter's output). Apart from the reader (safetensors.ts) so that
 * a page that only reads weight files does not download the writer: the browser bundle puts code
 * the page and the on-demand Hub loader share in the page's chunks (src/on_demand.ts).
 */

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A tensor whose bytes are already in `dtype`'s little-endian encoding, stored as they are (quantised weights: src/model/convert/quantize.ts). */
export interface RawTensorToWrite {
  name: string;
  shape: number[];
  dtype: Dtype;
  bytes: Uint8Array;
}

export interface WriteOptions {
  /** Stored dtype of every tensor: 'F32' (default) or 'F16' (round to nearest, ties to even). */
  dtype?: 'F32' | 'F16';
}

/**
 * Writes tensors and string metadata as safetensors (header padded with spaces so the data starts
 * at a multiple of 8 bytes). F16 rounds each float32 value to nearest, ties to even; a finite value
 * beyond the F16 range (±65504 after rounding) is an error naming the tensor.
 */
export function writeSafetensors(tensors: (TensorToWrite | RawTensorToWrite)[], metadata: Record<string, string>, options: WriteOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  const wrong = (what: string): never => {
    throw new WebvitError('BAD_ARGUMENT', oneLine(`writeSafetensors: ${what}`));
  };
  if (dtype !== 'F32' && dtype !== 'F16') wrong(`dtype must be 'F32' or 'F16', got ${clip(String(dtype))}`);
  if (!Array.isArray(tensors)) wrong(`tensors must be an array of { name, shape, data }, got ${tensors === null ? 'null' : typeof tensors}`);
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || Object.values(metadata).some((v) => typeof v !== 'string')) wrong('metadata must be an object of strings');
  const size = DTYPE_BYTES[dtype];
  // No prototype: a tensor named "__proto__" is a key like any other (it set the prototype).
  const header: Record<string, unknown> = Object.assign(Object.create(null), { __metadata__: metadata });
  let offset = 0;
  for (const t of tensors) {
    if (typeof t?.name !== 'string' || t.name === '' || t.name === '__metadata__') wrong(`a tensor's name must be a non-empty string other than "__metadata__", got ${clip(JSON.stringify(t?.name) ?? String(t?.name))}`);
    if (Object.hasOwn(header, t.name)) wrong(`two tensors are named ${clip(t.name)}: a safetensors header holds each name once`);
    const raw = 'bytes' in t ? t : undefined;
    if (raw ? !(raw.bytes instanceof Uint8Array && Object.hasOwn(DTYPE_BYTES, raw.dtype)) : !((t as TensorToWrite).data instanceof Float32Array)) {
      wrong(`tensor ${clip(t.name)}: data must be a Float32Array (or bytes: a Uint8Array with a safetensors dtype)`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) wrong(`tensor ${clip(t.name)}: shape must be an array of whole numbers ≥ 0`);
    const n = t.shape.reduce((a, d) => a * d, 1);
    const bytes = raw ? raw.bytes.byteLength : size * (t as TensorToWrite).data.length;
    if (bytes !== n * (raw ? DTYPE_BYTES[raw.dtype] : size)) wrong(`tensor ${clip(t.name)} has ${raw ? `${bytes} bytes of ${raw.dtype}` : `${(t as TensorToWrite).data.length} values`} for shape [${t.shape}]`);
    header[t.name] = { dtype: raw?.dtype ?? dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - ((json.length + 8) % 8)) % 8;
  const headerBytes = new Uint8Array(json.length + pad).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const t of tensors) {
    if ('bytes' in t) {
      out.set(t.bytes, p);
      p += t.bytes.byteLength;
      continue;
    }
    if (dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
      p += t.data.byteLength;
      continue;
    }
    for (let i = 0; i < t.data.length; i++, p += 2) {
      const h = floatToHalf(t.data[i]);
      if ((h & 0x7fff) === 0x7c00 && Number.isFinite(t.data[i])) {
        throw new WebvitError('BAD_WEIGHTS', oneLine(`tensor ${t.name} holds ${t.data[i]} at index ${i}, beyond the F16 range (±65504); keep this model in F32`));
      }
      view.setUint16(p, h, true);
    }
  }
  return out;
}

