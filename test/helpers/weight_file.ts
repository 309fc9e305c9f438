import { floatToHalf } from '../../src/model/safetensors.js';
import { DTYPE_BYTES, parseSafetensors, tensorAsFloat32, type Dtype } from '../../src/model/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/model/safetensors_write.js';

/**
 * Builds variants of a webvit weight file in memory, for tests of what the loader rejects (and of
 * what it accepts: F16 / BF16 weights). Everything here works on bytes; nothing touches the disk.
 */

/** A weight file taken apart: metadata, the config and labels decoded, every tensor as float32 (file order). */
export interface WeightParts {
  metadata: Record<string, string>;
  config: Record<string, unknown>;
  labels?: string[];
  tensors: TensorToWrite[];
}

export function splitWeights(bytes: Uint8Array): WeightParts {
  const file = parseSafetensors(bytes, 'fixture');
  const tensors = [...file.tensors.values()]
    .sort((a, b) => a.begin - b.begin)
    .map((t) => ({ name: t.name, shape: [...t.shape], data: tensorAsFloat32(file, t) }));
  const labels = file.metadata['webvit.labels'] === undefined ? undefined : (JSON.parse(file.metadata['webvit.labels']) as string[]);
  return { metadata: { ...file.metadata }, config: JSON.parse(file.metadata['webvit.config']), labels, tensors };
}

/** Deep copy, so that each test mutates its own parts. */
export function cloneParts(p: WeightParts): WeightParts {
  return {
    metadata: { ...p.metadata },
    config: structuredClone(p.config),
    labels: p.labels ? [...p.labels] : undefined,
    tensors: p.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: t.data.slice() })),
  };
}

/** Writes parts back as an F32 webvit file (config and labels re-encoded into the metadata). */
export function joinWeights(p: WeightParts): Uint8Array {
  const metadata: Record<string, string> = { ...p.metadata, 'webvit.config': JSON.stringify(p.config) };
  if (p.labels) metadata['webvit.labels'] = JSON.stringify(p.labels);
  else delete metadata['webvit.labels'];
  return writeSafetensors(p.tensors, metadata);
}

/** The header of a safetensors file as a mutable object, and where its data section starts. */
export function readHeader(bytes: Uint8Array): { header: Record<string, any>; dataStart: number } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), dataStart: 8 + n };
}

/** The same data section under a header rewritten by `mutate` (offsets stay relative to the data). */
export function withHeader(bytes: Uint8Array, mutate: (header: Record<string, any>) => void): Uint8Array {
  const { header, dataStart } = readHeader(bytes);
  mutate(header);
  return assemble(new TextEncoder().encode(JSON.stringify(header)), bytes.subarray(dataStart));
}

/** [u64 header length][header bytes][data], with no checks at all (the point is to build bad files). */
export function assemble(headerBytes: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

export interface RawTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Little-endian element bytes: product(shape) × sizeof(dtype). */
  data: Uint8Array;
}

/** Writes tensors of any dtype (the library's writer only writes F32), data packed in order. */
export function writeRaw(tensors: RawTensor[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const want = t.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype];
    if (want !== t.data.length) throw new Error(`writeRaw: ${t.name} has ${t.data.length} bytes, ${t.dtype} [${t.shape}] needs ${want}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const data = new Uint8Array(offset);
  let p = 0;
  for (const t of tensors) {
    data.set(t.data, p);
    p += t.data.length;
  }
  return assemble(new TextEncoder().encode(JSON.stringify(header)), data);
}

/** Parts as a file whose tensors are all stored as `dtype` (F16 or BF16, rounded to nearest even). */
export function joinWeightsAs(p: WeightParts, dtype: 'F16' | 'BF16' | 'F32'): Uint8Array {
  const metadata: Record<string, string> = { ...p.metadata, 'webvit.config': JSON.stringify(p.config) };
  if (p.labels) metadata['webvit.labels'] = JSON.stringify(p.labels);
  const encode = dtype === 'F16' ? toHalfBytes : dtype === 'BF16' ? toBf16Bytes : (a: Float32Array) => new Uint8Array(a.slice().buffer);
  return writeRaw(p.tensors.map((t) => ({ name: t.name, dtype, shape: t.shape, data: encode(t.data) })), metadata);
}

// The library's encoder (round to nearest even), re-exported for the tests.
export { floatToHalf };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits of a number (via float32), round to nearest, ties to even. */
export function floatToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** F16 bytes (little-endian) of float32 values. */
export function toHalfBytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * a.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setUint16(2 * i, floatToHalf(a[i]), true);
  return out;
}

export function toBf16Bytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * a.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setUint16(2 * i, floatToBf16(a[i]), true);
  return out;
}
