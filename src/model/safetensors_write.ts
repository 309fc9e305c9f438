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
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t?.name !== 'string' || t.name === '' || t.name === '__metadata__') wrong(`a tensor's name must be a non-empty string other than "__metadata__", got ${clip(JSON.stringify(t?.name) ?? String(t?.name))}`);
    if (seen.has(t.name)) wrong(`two tensors are named ${clip(t.name)}: a safetensors header holds each name once`);
    seen.add(t.name);
    const raw = 'bytes' in t ? t : undefined;
    if (raw ? !(raw.bytes instanceof Uint8Array && Object.hasOwn(DTYPE_BYTES, raw.dtype)) : !((t as TensorToWrite).data instanceof Float32Array)) {
      wrong(`tensor ${clip(t.name)}: data must be a Float32Array (or bytes: a Uint8Array with a safetensors dtype)`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) wrong(`tensor ${clip(t.name)}: shape must be an array of whole numbers ≥ 0`);
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (raw ? raw.bytes.byteLength !== n * DTYPE_BYTES[raw.dtype] : n !== (t as TensorToWrite).data.length) {
      wrong(`tensor ${clip(t.name)} has ${raw ? `${raw.bytes.byteLength} bytes of ${raw.dtype}` : `${(t as TensorToWrite).data.length} values`} for shape [${t.shape}]`);
    }
  }
  const layout = safetensorsLayout(tensors.map((t) => ('bytes' in t ? { name: t.name, shape: t.shape, dtype: t.dtype } : t)), metadata, dtype);
  const out = new Uint8Array(layout.size);
  out.set(layout.head);
  tensors.forEach((t, i) => ('bytes' in t ? out.set(t.bytes, layout.offsets[i]) : writeTensorData(out, layout.offsets[i], t.name, t.data, dtype)));
  return out;
}

/** Where a safetensors file's parts go: its first bytes (length and padded header) and each tensor's data offset. */
export interface SafetensorsLayout {
  /** The 8-byte header length and the header, padded with spaces to a multiple of 8 bytes. */
  head: Uint8Array;
  /** Each tensor's first byte in the file, in the order given. */
  offsets: number[];
  /** The whole file's size. */
  size: number;
}

/**
 * The layout of a file of these tensors (names and shapes; data written later, writeTensorData):
 * what writeSafetensors writes, computed before any value exists (a streamed conversion allocates
 * the file once and fills it tensor by tensor). Each tensor is stored as `dtype` unless it names
 * its own (a quantised weight's codes and scales).
 */
export function safetensorsLayout(tensors: { name: string; shape: number[]; dtype?: Dtype }[], metadata: Record<string, string>, dtype: 'F32' | 'F16' = 'F32'): SafetensorsLayout {
  // No prototype: a tensor named "__proto__" is a key like any other (it set the prototype).
  const header: Record<string, unknown> = Object.assign(Object.create(null), { __metadata__: metadata });
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    if (Object.hasOwn(header, t.name)) throw new WebvitError('BAD_ARGUMENT', oneLine(`writeSafetensors: two tensors are named ${clip(t.name)}: a safetensors header holds each name once`));
    const d = t.dtype ?? dtype;
    const bytes = DTYPE_BYTES[d] * t.shape.reduce((a, n) => a * n, 1);
    header[t.name] = { dtype: d, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offsets.push(offset);
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - ((json.length + 8) % 8)) % 8;
  const head = new Uint8Array(8 + json.length + pad).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length + pad), true);
  head.set(json, 8);
  return { head, offsets: offsets.map((o) => head.byteLength + o), size: head.byteLength + offset };
}

/**
 * A tensor's values into `out` at byte `at`, as `dtype`. F16 rounds each float32 value to
 * nearest, ties to even; a finite value beyond the F16 range is an error naming the tensor.
 */
export function writeTensorData(out: Uint8Array, at: number, name: string, data: Float32Array, dtype: 'F32' | 'F16'): void {
  if (dtype === 'F32') {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0, p = at; i < data.length; i++, p += 2) {
    const h = floatToHalf(data[i]);
    if ((h & 0x7fff) === 0x7c00 && Number.isFinite(data[i])) {
      throw new WebvitError('BAD_WEIGHTS', oneLine(`tensor ${name} holds ${data[i]} at index ${i}, beyond the F16 range (±65504); keep this model in F32`));
    }
    view.setUint16(p, h, true);
  }
}
