import { checkSourceName, clip, WebvitError } from '../runtime/errors.js';
import { oneLine, preview } from './json_preview.js';

/**
 * safetensors reading (writing: safetensors_write.ts), checked byte by byte: a header that lies about offsets, a
 * truncated file or a shape that does not match its byte count is an error naming the tensor.
 */
export type Dtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  source: string;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
  bytes: Uint8Array;
}

/** The reference reader's limit (huggingface/safetensors MAX_HEADER_SIZE). */
const MAX_HEADER = 100_000_000;
/** webvit's tensors have at most 4 dimensions; this only keeps messages (which print shapes) short. */
const MAX_RANK = 16;

/**
 * Parses a safetensors file as the reference reader does (huggingface/safetensors: read_metadata
 * and Metadata::validate), with errors that name the tensor and the numbers:
 * - header length ≤ 100 MB and inside the file; the header a UTF-8 JSON object;
 * - each tensor: a known dtype, a shape of non-negative safe integers, data_offsets [begin, end]
 *   with end − begin = product(shape) · sizeof(dtype), inside the data section;
 * - the data section covered exactly: sorted by offset, each tensor begins where the previous
 *   one ended, the first at 0, the last at the end of the file. A gap or trailing bytes (data no
 *   tensor owns: a second payload, or a mis-written file) is refused like an overlap.
 * Nothing is allocated in proportion to a number in the header; the tensors' data stays in `bytes`.
 */
/**
 * The header's length from a file's first 8 bytes (`bytes` may be just those), checked against
 * the file's `size`: the first check, which a reader can make before reading the file whole.
 */
export function headerLength(bytes: Uint8Array, size: number, source: string): number {
  const bad = (msg: string): never => {
    throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${msg}`));
  };
  if (size < 8) bad(`is ${size} bytes, too short for a safetensors file (8-byte header length first)`);
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER) bad(`header length field says ${headerLen} bytes (limit ${MAX_HEADER}); this is not a safetensors file`);
  if (8 + headerLen > size) bad(`header length field says ${headerLen} bytes but the file has only ${size - 8} after it: truncated or not safetensors`);
  return headerLen;
}

/** The header, a JSON object, from the file's first 8 + headerLen bytes (or more). */
export function headerJson(bytes: Uint8Array, headerLen: number, source: string): object {
  let header: unknown;
  let why: string | undefined;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    why = `header is not valid UTF-8 JSON (${(e as Error).message}); this is not a safetensors file`;
  }
  if (!why && (typeof header !== 'object' || header === null || Array.isArray(header))) why = 'header must be a JSON object';
  if (why) throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${why}`));
  return header as object;
}

export function parseSafetensors(input: Uint8Array | ArrayBuffer, source = 'safetensors'): SafetensorsFile {
  checkSourceName(source, 'parseSafetensors');
  if (!(input instanceof Uint8Array || input instanceof ArrayBuffer)) throw new WebvitError('BAD_ARGUMENT', `${source}: expected bytes (a Uint8Array or ArrayBuffer), got ${input === null ? 'null' : typeof input}`);
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const headerLen = headerLength(bytes, bytes.byteLength, source);
  const { metadata, tensors } = headerEntries(headerJson(bytes, headerLen, source), headerLen, bytes.byteLength, source);
  return { source, metadata, tensors, bytes };
}

/**
 * A file's header checked from its first bytes (`read(n)`: the first n) against its `size`, as
 * parseSafetensors checks it, before the file is read whole: a file that is not safetensors, or
 * whose data the header does not cover exactly, costs 8 + header bytes. Returns the header.
 */
export async function checkHead(read: (n: number) => Promise<Uint8Array>, size: number, source: string): Promise<Record<string, unknown>> {
  const headerLen = headerLength(await read(8), size, source);
  const header = headerJson(await read(8 + headerLen), headerLen, source);
  headerEntries(header, headerLen, size, source);
  return header as Record<string, unknown>;
}

/**
 * The header's metadata and tensor entries, checked against a file of `size` bytes (dtypes,
 * shapes, offsets, the data covered exactly): everything but the data itself, so a reader can
 * refuse a file from its first 8 + headerLen bytes (src/model/weight_file.ts).
 */
export function headerEntries(header: object, headerLen: number, size: number, source: string): { metadata: Record<string, string>; tensors: Map<string, TensorEntry> } {
  const bad = (msg: string): never => {
    throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${msg}`));
  };
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const isCount = (d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`__metadata__ must be an object of strings, got ${Array.isArray(raw) ? 'an array' : preview(raw)}`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') bad(`__metadata__.${clip(k)} must be a string, got ${typeof v}`);
      }
      // fromEntries defines own properties: a key "__proto__" stays a key.
      metadata = Object.fromEntries(Object.entries(raw as Record<string, string>));
      continue;
    }
    const shown = clip(name); // a name in a message: bounded, however long in the file
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(`tensor ${shown}: header entry must be an object`);
    if (typeof e.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, e.dtype)) bad(`tensor ${shown}: unknown dtype ${preview(e.dtype)}`);
    const shape = e.shape;
    if (Array.isArray(shape) && shape.length > MAX_RANK) bad(`tensor ${shown}: shape has ${shape.length} dimensions, more than ${MAX_RANK}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) bad(`tensor ${shown}: shape must be a list of non-negative integers (up to 2^53), got ${preview(shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount)) {
      bad(`tensor ${shown}: data_offsets must be [begin, end], non-negative integers (up to 2^53), got ${preview(off)}`);
    }
    const [b, en] = off as number[];
    const dtype = e.dtype as Dtype;
    // In doubles: a product beyond 2^53 is inexact but then far beyond any span checked below.
    const want = (shape as number[]).reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
    if (en < b) bad(`tensor ${shown}: data_offsets [${b}, ${en}] end before they begin`);
    if (en - b !== want) bad(`tensor ${shown}: data_offsets [${b}, ${en}] span ${en - b} bytes but ${dtype} shape [${(shape as number[]).join(', ')}] needs ${want}`);
    if (en > dataLen) bad(`tensor ${shown}: data_offsets [${b}, ${en}] run past the end of the data (${dataLen} bytes): the file is truncated or its header lies`);
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + en });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const range = (t: TensorEntry) => `[${t.begin - dataStart}, ${t.end - dataStart}]`;
  let covered = 0;
  let last: TensorEntry | undefined;
  for (const t of sorted) {
    const b = t.begin - dataStart;
    if (b < covered) bad(`tensors ${clip(last!.name)} (data_offsets ${range(last!)}) and ${clip(t.name)} (data_offsets ${range(t)}) overlap in the data section`);
    if (b > covered) {
      bad(
        `bytes [${covered}, ${b}) of the data section belong to no tensor (${last ? `between ${clip(last.name)} and ${clip(t.name)}` : `before the first, ${clip(t.name)}`}); ` +
          `safetensors data must be covered exactly, without gaps`,
      );
    }
    covered = t.end - dataStart;
    last = t;
  }
  if (covered < dataLen) {
    const n = dataLen - covered;
    bad(
      `the data section has ${dataLen} bytes but the tensors cover ${covered}: ${n} trailing byte${n === 1 ? '' : 's'} after ${last ? `the last tensor, ${clip(last.name)}` : 'the header (no tensors)'}; ` +
        `safetensors data must be covered exactly (a truncated header, or something appended to the file)`,
    );
  }
  return { metadata, tensors };
}

/**
 * A tensor's values as float32 (F32 as is; F16 and BF16 widened; other dtypes refused). `view`:
 * F32 data at a 4-byte-aligned address comes back as a view of the file's bytes, not a copy.
 * F32 data is taken as the host's floats: the format is little-endian, as every WebGPU host is
 * (the GPU reads weights in the same byte order, uploaded as they are).
 */
export function tensorAsFloat32(file: SafetensorsFile, t: TensorEntry, view = false): Float32Array {
  const n = t.shape.reduce((a, d) => a * d, 1);
  const raw = file.bytes.subarray(t.begin, t.end);
  if (t.dtype === 'F32') return view && raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, n) : new Float32Array(new Uint8Array(raw).buffer); // a copy (a Node Buffer's slice() is a view)
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    default:
      throw new WebvitError('BAD_WEIGHTS', oneLine(`${file.source}: tensor ${clip(t.name)} has dtype ${t.dtype}; webvit weights must be F32, F16 or BF16`));
  }
}

export { halfToFloat, floatToHalf } from '../kernels/half.js';
import { halfToFloat } from '../kernels/half.js';
