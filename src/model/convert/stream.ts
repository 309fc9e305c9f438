import { clip, WebvitError } from '../../runtime/errors.js';
import { oneLine } from '../json_preview.js';
import { headerEntries, headerJson, headerLength, type SafetensorsFile, type TensorEntry } from '../safetensors.js';
import { safetensorsLayout, writeTensorData } from '../safetensors_write.js';
import { expectedTensors } from '../weights.js';
import { checkTaken, readFloat32, weightFileMetadata, type Checkpoint, type ConvertOptions, type Planned, type SourceTensor } from './core.js';
import { planCheckpoint } from './index.js';
import type { Lazy } from './lazy.js';

/**
 * A conversion written as the checkpoint's bytes arrive (docs/model-ids.md, "Memory"). From every
 * weight file's header (its first 8 + N bytes) the conversion is planned (planCheckpoint: every
 * check of names, shapes and config, each output tensor a Lazy), the output file's layout follows
 * (header and each tensor's offset), and ONE buffer of the output's size is allocated. Then the
 * files' bytes are fed in, in any chunks, file by file:
 * - an output tensor that is one F32 source tensor unchanged (into an F32 file) is copied into its
 *   place chunk by chunk, and checked value by value when whole;
 * - a source tensor that other output tensors read (transposed, fused, scaled, narrowed to F16, …)
 *   is buffered until its last byte arrives, then each output tensor whose sources are all here is
 *   made and written into its place, and a source tensor no output still needs is dropped. A file
 *   saved in the usual order holds q, k and v (or DeiT's two heads) near each other, so at most a
 *   few source tensors are held at once; an unusual order holds more, never more than the file.
 * - a tensor no output reads (a dropped pooler, a text tower) is skipped.
 * The bytes written are the whole-file converter's (encodeWeights(convertCheckpoint(...))), bit
 * for bit: the same Lazy makes each tensor in both (test/convert/stream.test.ts compares them).
 */

/** One weight file of a checkpoint, from its header: where each tensor's bytes are. */
export interface StreamFile {
  /** What messages call it (a path, or "org/name model.safetensors"). */
  file: string;
  size: number;
  /** Where its data starts: 8 + the header's length. */
  dataStart: number;
  metadata: Record<string, string>;
  /** Absolute byte ranges in the file, checked (in range, not overlapping, covering the data exactly). */
  tensors: Map<string, TensorEntry>;
}

/** How many of a file's first bytes hold its header, once its first 8 bytes are known; 0 before. */
export function headSize(first: Uint8Array, size: number, file: string): number {
  return first.byteLength < 8 ? 0 : 8 + headerLength(first, size, file);
}

/**
 * The size a file's header implies (8 + header + the end of its last tensor's data), for a
 * download whose size was not stated: the bytes that arrive are then held to it.
 */
export function impliedSize(head: Uint8Array, file: string): number {
  const headerLen = headerLength(head, Number.MAX_SAFE_INTEGER, file);
  let end = 0;
  for (const e of Object.values(headerJson(head, headerLen, file) as Record<string, { data_offsets?: unknown }>)) {
    const off = e?.data_offsets;
    if (Array.isArray(off) && typeof off[1] === 'number' && off[1] > end) end = off[1];
  }
  return 8 + headerLen + end;
}

/**
 * A weight file's header from its first bytes (`head`: at least headSize of them), checked against
 * its `size` as parseSafetensors checks a whole file: a header that lies (offsets out of range,
 * overlapping, leaving gaps) is refused before any tensor's data is read.
 */
export function streamFile(file: string, head: Uint8Array, size: number): StreamFile {
  const headerLen = headerLength(head, size, file);
  const { metadata, tensors } = headerEntries(headerJson(head, headerLen, file), headerLen, size, file);
  return { file, size, dataStart: 8 + headerLen, metadata, tensors };
}

/**
 * Source tensors for a planned conversion: their names, dtypes and shapes. Reading one before its
 * bytes arrived is refused: only a webvit file being re-encoded asks (it is checked whole).
 */
export function headerSourceTensors(f: StreamFile): SourceTensor[] {
  return [...f.tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    file: f.file,
    read: () => {
      throw new WebvitError('UNSUPPORTED', oneLine(`${f.file}: is a webvit weight file already (format webvit in its metadata); it needs no conversion: load it by URL or path instead`));
    },
  }));
}

/**
 * A checkpoint from its weight files' headers (the page's loader: `base` holds config.json and the
 * preprocessor it fetched): a tensor in two shards is refused; the metadata is the first file's.
 */
export function streamedCheckpoint(source: string, files: StreamFile[], base: Omit<Checkpoint, 'source' | 'tensors' | 'metadata'> = {}): Checkpoint {
  const tensors = new Map<string, SourceTensor>();
  for (const f of files) {
    for (const t of headerSourceTensors(f)) {
      if (tensors.has(t.name)) throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: tensor ${clip(t.name)} is in two shards (${tensors.get(t.name)!.file} and ${f.file})`));
      tensors.set(t.name, t);
    }
  }
  return { ...base, source, tensors, metadata: files[0]?.metadata ?? {} };
}

/** The file format is little-endian; so is nearly every machine, where F32 bytes are the values. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Source {
  f: StreamFile;
  t: SourceTensor;
  e: TensorEntry;
  /** Bytes received from the tensor's start. */
  got: number;
  /** Where a pass-through copy goes in the output (bytes). */
  copyTo?: number;
  /** Output tensors still to be made from it. */
  readers: Job[];
  buf?: Uint8Array;
}

interface Job {
  name: string;
  lazy: Lazy;
  at: number;
  /** Sources not yet whole. */
  waiting: number;
  done: boolean;
}

export class StreamedConversion {
  /** The output file, filled as the bytes arrive; whole once finish() returns. */
  readonly out: Uint8Array;
  readonly planned: Planned;
  private readonly sources = new Map<string, Source>();
  /** Each file's tensors in byte order. */
  private readonly byFile = new Map<string, Source[]>();
  private readonly values = new Map<string, Float32Array>();
  private readonly jobs: Job[] = [];
  private readonly dtype: 'F32' | 'F16';
  private held = 0;
  /** The most bytes of source tensors held at once (buffered or made into values), for tests and measurements. */
  peakHeld = 0;

  /**
   * Plans the conversion of `ckpt` (its tensors from `files`' headers: headerSourceTensors) into a
   * webvit file of `dtype`, with `extra(planned)` metadata after webvit's own keys.
   */
  constructor(ckpt: Checkpoint, files: StreamFile[], dtype: 'F32' | 'F16', extra: (p: Pick<Planned, 'layout' | 'metadata'>) => Record<string, string>, options: ConvertOptions = {}) {
    this.dtype = dtype;
    const planned = planCheckpoint(ckpt, options);
    this.planned = planned;
    const w = planned.weights;
    const shapes = expectedTensors(w.config);
    const names = [...w.tensors.keys()];
    const layout = safetensorsLayout(
      names.map((name) => ({ name, shape: shapes.get(name)! })),
      weightFileMetadata(w.config, w.labels, extra(planned)),
      dtype,
    );
    this.out = new Uint8Array(layout.size);
    this.out.set(layout.head);
    for (const f of files) {
      const list: Source[] = [];
      for (const e of [...f.tensors.values()].sort((a, b) => a.begin - b.begin)) {
        const t = ckpt.tensors.get(e.name);
        if (!t || t.file !== f.file) continue; // (a tensor in two shards is refused when the checkpoint is made)
        const s: Source = { f, t, e, got: 0, readers: [] };
        this.sources.set(e.name, s);
        list.push(s);
      }
      this.byFile.set(f.file, list);
    }
    names.forEach((name, i) => {
      const lazy = w.tensors.get(name)!;
      const at = layout.offsets[i];
      const src = lazy.source !== undefined ? this.sources.get(lazy.source) : undefined;
      // One F32 source tensor as it is: copied into place as it arrives (once; a second use is made).
      if (src && dtype === 'F32' && src.t.dtype === 'F32' && LITTLE_ENDIAN && src.copyTo === undefined) {
        src.copyTo = at;
        return;
      }
      const job: Job = { name, lazy, at, waiting: lazy.deps.length, done: false };
      this.jobs.push(job);
      for (const d of lazy.deps) this.sources.get(d)!.readers.push(job);
    });
    // Tensors that read nothing (zeros, constants) now; empty source tensors are whole already.
    for (const j of this.jobs) if (j.waiting === 0) this.make(j);
    for (const s of this.sources.values()) if (s.e.end === s.e.begin) this.whole(s);
  }

  /** Bytes [at, at + chunk.length) of `file` (after a restart, from 0 again: bytes already used are skipped). */
  feed(file: string, at: number, chunk: Uint8Array): void {
    const list = this.byFile.get(file);
    if (!list) throw new Error(`internal: feed of a file not planned: ${file}`);
    const end = at + chunk.byteLength;
    const f = list[0]?.f;
    if (f && end > f.size) throw new WebvitError('BAD_WEIGHTS', oneLine(`${file}: more bytes than the ${f.size} its size and header state`));
    // The first tensor that ends after `at` (binary search: tensors are in byte order).
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].e.end <= at) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length && list[i].e.begin < end; i++) {
      const s = list[i];
      const { begin, end: tEnd } = s.e;
      const from = Math.max(begin, at);
      const to = Math.min(tEnd, end);
      if (to <= begin + s.got) continue; // had these
      if (from > begin + s.got) throw new Error(`internal: ${file} fed from byte ${at}, after a gap (tensor ${s.e.name} has ${s.got} bytes)`);
      const part = chunk.subarray(from - at, to - at);
      if (s.copyTo !== undefined) this.out.set(part, s.copyTo + (from - begin));
      if (s.readers.length) {
        if (!s.buf) this.hold((s.buf = new Uint8Array(tEnd - begin)).byteLength);
        s.buf.set(part, from - begin);
      }
      s.got = to - begin;
      if (s.got === tEnd - begin) this.whole(s);
    }
  }

  /** The output file, once every file was fed whole; else the error naming what did not arrive. */
  finish(): Uint8Array {
    for (const list of this.byFile.values()) {
      const short = list.find((s) => s.got < s.e.end - s.e.begin);
      if (short) {
        throw new WebvitError(
          'BAD_WEIGHTS',
          oneLine(`${short.f.file}: ended within tensor ${clip(short.e.name)} (${short.got} of its ${short.e.end - short.e.begin} bytes): the download is truncated; try again`),
        );
      }
    }
    const left = this.jobs.find((j) => !j.done);
    if (left) throw new Error(`internal: converted tensor ${left.name} was never made`);
    return this.out;
  }

  private whole(s: Source): void {
    if (s.copyTo !== undefined) {
      const n = (s.e.end - s.e.begin) / 4;
      checkTaken(s.t, new Float32Array(this.out.buffer, this.out.byteOffset + s.copyTo, n));
    }
    if (!s.readers.length) return;
    const file: SafetensorsFile = { source: s.f.file, metadata: {}, tensors: new Map(), bytes: s.buf ?? new Uint8Array(0) };
    const n = s.e.end - s.e.begin;
    // F32 bytes are the values (a view of the buffer, no copy); other dtypes widened as readFloat32 does.
    const values = s.t.dtype === 'F32' && LITTLE_ENDIAN ? new Float32Array(file.bytes.buffer, file.bytes.byteOffset, n / 4) : readFloat32(file, { ...s.e, begin: 0, end: n });
    if (values.buffer !== file.bytes.buffer) this.hold(values.byteLength - file.bytes.byteLength);
    this.values.set(s.e.name, values);
    s.buf = undefined;
    for (const j of s.readers) if (--j.waiting === 0) this.make(j);
  }

  private make(j: Job): void {
    const values = j.lazy.make((name) => this.values.get(name)!);
    writeTensorData(this.out, j.at, j.name, values, this.dtype);
    j.done = true;
    for (const d of j.lazy.deps) {
      const s = this.sources.get(d)!;
      s.readers = s.readers.filter((r) => r !== j);
      if (!s.readers.length && this.values.has(d)) {
        this.hold(-this.values.get(d)!.byteLength);
        this.values.delete(d);
      }
    }
  }

  private hold(bytes: number): void {
    this.held += bytes;
    this.peakHeld = Math.max(this.peakHeld, this.held);
  }
}
