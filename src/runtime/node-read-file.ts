import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { WebvitError, type WebvitErrorCode } from './errors.js';
import { errnoWhy, fileKind } from './node-write-file.js';

/**
 * The one way webvit reads an input file in Node (images, model and checkpoint files and shards,
 * `run --input`, `--labels`, config and preprocessor JSON, the tuning cache): only regular files,
 * only up to a size limit per kind, and never more than the size checked before reading.
 *
 * - The path is stat'ed (following links, so a shard symlinked into a Hugging Face cache is read)
 *   and anything but a regular file is refused without being opened: a FIFO would block the read
 *   forever, `/dev/zero` would fill memory, and opening some devices has effects of its own.
 * - It is then opened with O_NONBLOCK (a FIFO swapped in meanwhile cannot block the open) and the
 *   open file is fstat'ed and checked again: what is read is what was checked.
 * - At most the fstat size is read: a file that grows meanwhile is read as it was; one that shrinks
 *   is refused (its end is gone). A regular file of size 0 (procfs, sysfs) is read to its end, up
 *   to the limit.
 */

/** Largest input of each kind, in bytes. */
export const READ_LIMITS = {
  /** Weight files and checkpoint shards: the most one Node read can return (2 GiB − 1). */
  weights: 2 ** 31 - 1,
  /** `run --input`: float32 pixels, also one read. */
  tensor: 2 ** 31 - 1,
  /** PNG/JPEG: 1 GiB is above any image within the pixel limit (--max-pixels) that is not padding. */
  image: 2 ** 30,
  /** config.json, preprocessor_config.json, a shard index, the tuning cache. */
  json: 64 * 2 ** 20,
  /** A labels file: ImageNet-21k's 21,843 names take under 1 MiB. */
  labels: 64 * 2 ** 20,
} as const;

export interface ReadOptions {
  /** The code of the WebvitError thrown. */
  code: WebvitErrorCode;
  /** The size limit in bytes (a READ_LIMITS entry). */
  limit: number;
  /** What the file is, for messages: "the model file", "the input file given with --input". */
  what?: string;
  /** Added to the message when the file is above the limit (given the file's size). */
  tooLargeHint?: string | ((size: number) => string);
  /** Added to the message when the path is a directory. */
  directoryHint?: string;
  /** false: not remembered as read (see wasRead); the tuning cache's own read. */
  record?: boolean;
  /**
   * Checks the file's start before the whole file is read (a file with a size in its metadata):
   * `read(n, at)` gives n bytes from byte `at` (default 0; fewer at the file's end). A weight
   * file's header is checked so: 2 GB of zeros is refused from its first 8 bytes, not after
   * reading them all. It may return how many of the file's bytes to read (an image's extent:
   * what follows a PNG's IEND is never read); the file is then that long to the reader.
   */
  head?: (read: (n: number, at?: number) => Promise<Uint8Array>, size: number) => Promise<void | number>;
}

/** Device and inode of every file this process has read (recorded unless `record: false`). */
const readFiles = new Set<string>();
const fileId = (st: Stats) => `${st.dev}:${st.ino}`;

/**
 * Whether the file `st` describes was read by this process: a file written by webvit on its
 * own account (the tuning cache) must never be one that the command reads (a model, an image).
 */
export const wasRead = (st: Stats): boolean => readFiles.has(fileId(st));

const O_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** A missing "-": Unix's name for standard input, which webvit does not read (it seeks and checks sizes). */
export const stdinHint = (path: string, e: unknown): string =>
  path === '-' && (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? '; "-" is taken as a file name: webvit does not read standard input; save the data to a file and give its name' : '';

function failure(path: string, o: ReadOptions, why: string, cause?: unknown): WebvitError {
  return new WebvitError(o.code, `${path}: cannot read${o.what ? ` ${o.what}` : ''} (${why}${stdinHint(path, cause)})`, cause === undefined ? undefined : { cause });
}

const hint = (o: ReadOptions, size: number) => (typeof o.tooLargeHint === 'function' ? o.tooLargeHint(size) : o.tooLargeHint);

/** Why `st` may not be read, or undefined. */
function refusal(st: Stats, o: ReadOptions): string | undefined {
  if (st.isDirectory()) return `is a directory${o.directoryHint ? `; ${o.directoryHint}` : ''}`;
  if (!st.isFile()) return `is ${fileKind(st)}, not a regular file; webvit reads only regular files`;
  if (st.size > o.limit) return `${st.size} bytes, above the ${o.limit}-byte limit${o.tooLargeHint ? `; ${hint(o, st.size)}` : ''}`;
  return undefined;
}

// errnoWhy lives with fileKind in the writer (which this module imports); it is re-exported here.
export { errnoWhy } from './node-write-file.js';

/**
 * A regular file whose stat size is 0 may still hold bytes: /proc and /sys files are made when
 * read. Such a file (and an empty one, at once) is read in chunks until its end, up to the limit.
 */
const CHUNK = 64 * 1024;
type ReadAt = (b: Buffer, at: number) => number;

function joined(path: string, o: ReadOptions, chunks: Buffer[], total: number): Uint8Array {
  if (total > o.limit) throw failure(path, o, `a file with no size in its metadata (as in /proc) that holds more than the ${o.limit}-byte limit${o.tooLargeHint ? `; ${hint(o, total)}` : ''}`);
  return Buffer.concat(chunks, total);
}

async function untilEnd(path: string, o: ReadOptions, read: (b: Buffer, at: number) => Promise<number>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const b = Buffer.allocUnsafe(CHUNK);
    const n = await read(b, total).catch((e) => {
      throw failure(path, o, errnoWhy(e), e);
    });
    if (n === 0 || total > o.limit) return joined(path, o, chunks, total);
    chunks.push(b.subarray(0, n));
    total += n;
  }
}

function untilEndSync(path: string, o: ReadOptions, read: ReadAt): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const b = Buffer.allocUnsafe(CHUNK);
    let n: number;
    try {
      n = read(b, total);
    } catch (e) {
      throw failure(path, o, errnoWhy(e), e);
    }
    if (n === 0 || total > o.limit) return joined(path, o, chunks, total);
    chunks.push(b.subarray(0, n));
    total += n;
  }
}

/** A caller's mistake, not a bad file: a path that is not a string is a BAD_ARGUMENT. */
function checkPath(path: unknown, o: ReadOptions): void {
  if (typeof path !== 'string') throw new WebvitError('BAD_ARGUMENT', `${o.what ?? 'a file'}: expected a file path (a string), got ${path === null ? 'null' : typeof path}`);
}

/** The file opened (O_FLAGS), and its stat: refused (and closed) when it is not a file `o` takes. */
async function openChecked(path: string, o: ReadOptions) {
  const fh = await open(path, O_FLAGS).catch((e) => {
    throw failure(path, o, errnoWhy(e), e);
  });
  try {
    const st = await fh.stat();
    const no = refusal(st, o);
    if (no) throw failure(path, o, no);
    return { fh, st };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}

/** The whole file (see the top of this file), or a WebvitError of `o.code` naming it and why. */
export async function readRegularFile(path: string, o: ReadOptions): Promise<Uint8Array> {
  checkPath(path, o);
  const before = await stat(path).catch((e) => {
    throw failure(path, o, errnoWhy(e), e);
  });
  const no = refusal(before, o);
  if (no) throw failure(path, o, no);
  const { fh, st } = await openChecked(path, o);
  try {
    if (o.record !== false) readFiles.add(fileId(st));
    if (st.size === 0) return await untilEnd(path, o, (b, at) => fh.read(b, 0, b.byteLength, at).then((r) => r.bytesRead));
    const extent = await o.head?.(async (n, at = 0) => {
      const b = Buffer.alloc(Math.max(0, Math.min(n, st.size - at)));
      const { bytesRead } = await fh.read(b, 0, b.byteLength, at).catch((e) => {
        throw failure(path, o, errnoWhy(e), e);
      });
      return b.subarray(0, bytesRead);
    }, st.size);
    const size = typeof extent === 'number' ? Math.min(extent, st.size) : st.size;
    const bytes = Buffer.allocUnsafeSlow(size); // not zeroed: every byte is read below
    for (let p = 0; p < size; ) {
      const { bytesRead } = await fh.read(bytes, p, size - p, p).catch((e) => {
        throw failure(path, o, errnoWhy(e), e);
      });
      if (bytesRead === 0) throw failure(path, o, `it shrank from ${st.size} to ${p} bytes while being read`);
      p += bytesRead;
    }
    return bytes;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * A regular file read in chunks of `chunk` bytes, each handed to `onChunk(at, bytes)` (the same
 * buffer is reused: copy what must be kept) before the next is read, so that a file far larger
 * than memory allows can be consumed. `size`: the size the caller planned for (a file that
 * changed since is refused).
 */
export async function readRegularFileChunks(path: string, o: ReadOptions & { size: number; chunk?: number }, onChunk: (at: number, bytes: Uint8Array) => void): Promise<void> {
  checkPath(path, o);
  const { fh, st } = await openChecked(path, o);
  try {
    if (st.size !== o.size) throw failure(path, o, `it is ${st.size} bytes now, ${o.size} when its header was read: it changed while being read`);
    if (o.record !== false) readFiles.add(fileId(st));
    const buf = Buffer.allocUnsafeSlow(Math.min(o.chunk ?? 16 * 2 ** 20, Math.max(1, st.size)));
    for (let p = 0; p < st.size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.byteLength, st.size - p), p).catch((e) => {
        throw failure(path, o, errnoWhy(e), e);
      });
      if (bytesRead === 0) throw failure(path, o, `it shrank from ${st.size} to ${p} bytes while being read`);
      onChunk(p, buf.subarray(0, bytesRead));
      p += bytesRead;
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** readRegularFile as text (UTF-8). */
export async function readRegularText(path: string, o: ReadOptions): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, o));
}

/** readRegularFile, synchronously (for small files read from synchronous code: the tuning cache). */
export function readRegularFileSync(path: string, o: ReadOptions): Uint8Array {
  checkPath(path, o);
  let before: Stats;
  try {
    before = statSync(path);
  } catch (e) {
    throw failure(path, o, errnoWhy(e), e);
  }
  const no = refusal(before, o);
  if (no) throw failure(path, o, no);
  let fd: number;
  try {
    fd = openSync(path, O_FLAGS);
  } catch (e) {
    throw failure(path, o, errnoWhy(e), e);
  }
  try {
    const st = fstatSync(fd);
    const no = refusal(st, o);
    if (no) throw failure(path, o, no);
    if (o.record !== false) readFiles.add(fileId(st));
    if (st.size === 0) return untilEndSync(path, o, (b, at) => readSync(fd, b, 0, b.byteLength, at));
    const bytes = Buffer.allocUnsafeSlow(st.size); // not zeroed: every byte is read below
    for (let p = 0; p < st.size; ) {
      const n = readSync(fd, bytes, p, st.size - p, p);
      if (n === 0) throw failure(path, o, `it shrank from ${st.size} to ${p} bytes while being read`);
      p += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** True when `e` (from a reader above) says the file does not exist. */
export const isMissing = (e: unknown): boolean => ((e as Error)?.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
