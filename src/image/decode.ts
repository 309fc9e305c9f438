/**
 * PNG and JPEG decoding for Node, to the 8-bit RGBA that PIL's `Image.open(f).convert('RGBA')`
 * gives (and so, alpha dropped, its convert('RGB'), which torchvision's image loader uses):
 * src/image/png.ts (streaming, 4 bytes per pixel held) and src/image/jpeg.ts (libjpeg-turbo in
 * WebAssembly). The size is read from the header and checked against a pixel limit before
 * anything is decompressed or allocated (decompression bombs). Every failure is a WebvitError
 * BAD_INPUT whose one-line message names the file and the problem.
 */
import { bad, checkPixels, DEFAULT_MAX_PIXELS, type DecodedImage, type DecodeOptions } from './decoded.js';
import { checkOptionKeys, clip, WebvitError } from '../runtime/errors.js';
import { decodeJpeg } from './jpeg.js';

export { releaseJpegDecoder } from './jpeg.js';
import { decodePng, MAX_PNG_CHUNKS } from './png.js';

export { DEFAULT_MAX_PIXELS, formatCount, formatPixels, RgbaPool, type DecodedImage, type DecodeOptions } from './decoded.js';

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function sniff(b: Uint8Array): string | undefined {
  const starts = (...xs: number[]) => xs.every((x, i) => b[i] === x);
  const ascii = (from: number, n: number) => String.fromCharCode(...b.subarray(from, from + n));
  if (starts(...PNG_SIG)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (ascii(0, 4) === 'GIF8') return 'a GIF image';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'a WebP image';
  if (ascii(0, 2) === 'BM') return 'a BMP image';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'a TIFF image';
  if (ascii(4, 4) === 'ftyp') return 'an ISO media file (HEIC/AVIF/MP4)';
  if (ascii(0, 5) === '%PDF-') return 'a PDF document';
  return undefined;
}

/** What a value is, for a message about a wrong argument: `a string of 3 characters`, `null`, `an Array`. */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  if (typeof v !== 'object') return `a ${typeof v}`;
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return typeof name === 'string' && name ? `a${/^[AEIOU]/.test(name) ? 'n' : ''} ${clip(name, 40)}` : 'an object';
}

/** A detached ArrayBuffer reads as 0 bytes, and making a view of it throws (Node 20 has no `.detached`). */
function isDetached(buffer: ArrayBuffer): boolean {
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** The bytes of an ArrayBuffer (or SharedArrayBuffer) or of any view of one, without a copy. */
function asBytes(bytes: unknown): Uint8Array {
  // A transferred ArrayBuffer (postMessage, structuredClone) is detached: length 0, unusable.
  const buffer = ArrayBuffer.isView(bytes) ? bytes.buffer : bytes;
  if (typeof buffer === 'object' && buffer !== null && isDetached(buffer as ArrayBuffer)) {
    throw new WebvitError('BAD_ARGUMENT', 'decodeImage: the bytes\' ArrayBuffer is detached (it was transferred, e.g. by postMessage); pass the bytes before transferring them, or a copy');
  }
  if (bytes instanceof Uint8Array) return bytes;
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && bytes instanceof SharedArrayBuffer)) return new Uint8Array(bytes);
  throw new WebvitError('BAD_ARGUMENT', `decodeImage: bytes must be a file's bytes (a Uint8Array, Buffer, ArrayBuffer or other ArrayBuffer view), got ${describeValue(bytes)}; read the file first (fs.readFileSync, fetch(...).arrayBuffer())`);
}

/** The image with `data` (the same array as `rgba`): an RgbaPixels, which classify() and embed() take as it is. */
const classifiable = (d: DecodedImage): DecodedImage & { data: Uint8Array } => Object.assign(d, { data: d.rgba });

/**
 * Decodes a PNG or JPEG file's bytes (a Uint8Array or Buffer, an ArrayBuffer, or any view of
 * one). Errors are one line naming `source` and the problem. The result is also an RgbaPixels
 * (`data` is `rgba`): `classifier.classify(await decodeImage(bytes, name))`.
 */
export async function decodeImage(input: Uint8Array | ArrayBuffer | ArrayBufferView, source: string, options: DecodeOptions = {}): Promise<DecodedImage & { data: Uint8Array }> {
  const bytes = asBytes(input);
  if (typeof source !== 'string') throw new WebvitError('BAD_ARGUMENT', `decodeImage: source must be a string naming the image in messages (a file name), got ${describeValue(source)}`);
  checkOptionKeys(options, ['maxPixels', 'pool'], 'decodeImage');
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels >= 1)) throw new WebvitError('BAD_ARGUMENT', `decodeImage: maxPixels must be a pixel count of at least 1, got ${maxPixels}`);
  if (bytes.byteLength === 0) bad(source, 'is empty (0 bytes), not an image');
  const kind = sniff(bytes);
  if (kind === 'png') return classifiable(await decodePng(bytes, source, maxPixels, options.pool));
  if (kind === 'jpeg') {
    // Up to its end marker, as the CLI reads a file (imageExtent) and as PIL stops: what follows
    // changed libjpeg-turbo's reading of a corrupt scan (it decodes by a faster path while enough
    // bytes are left in its buffer, and that path meets a marker differently), so the same damaged
    // image was decoded alone and refused with 3 KB after it (the image-extent fuzz, seed 376969082).
    const end = await imageExtent(bytes, bytes.byteLength, async () => new Uint8Array(0));
    return classifiable(await decodeJpeg(bytes.subarray(0, end), source, maxPixels));
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes.byteLength < 4) bad(source, `is a truncated JPEG (${bytes.byteLength} bytes: a JPEG's start marker and nothing after it)`);
  const head = Array.from(bytes.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return bad(source, kind ? `is ${kind}; webvit reads PNG and JPEG images only` : `is not a PNG or JPEG image (starts with bytes ${head})`);
}

/**
 * Checks an image file's first bytes before the rest is read (the CLI reads a file whole): not a
 * PNG or JPEG, a JPEG whose marker segments are corrupt before its frame header, or a header over
 * the pixel limit is refused from them, so 1 GB of padding behind a bad header is never read.
 * What cannot be told from `head` passes, and decodeImage decides on the whole file.
 */
export function checkImageHead(head: Uint8Array, source: string, maxPixels: number = DEFAULT_MAX_PIXELS): void {
  if (head.byteLength === 0) return;
  const kind = sniff(head);
  if (kind === 'png') {
    const u32 = (o: number) => ((head[o] << 24) | (head[o + 1] << 16) | (head[o + 2] << 8) | head[o + 3]) >>> 0;
    if (head.byteLength >= 24 && String.fromCharCode(...head.subarray(12, 16)) === 'IHDR') checkPixels(source, u32(16), u32(20), maxPixels);
    return;
  }
  if (kind === 'jpeg') {
    for (let o = 2; o + 4 <= head.byteLength; ) {
      if (head[o] !== 0xff) bad(source, `corrupt JPEG (expected a marker at byte ${o}, found 0x${head[o].toString(16)})`);
      const m = head[o + 1];
      if (m === 0xff) {
        o++;
        continue;
      }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
        o += 2;
        continue;
      }
      if (m === 0xd9 || m === 0xda) return;
      const len = (head[o + 2] << 8) | head[o + 3];
      if (len < 2) bad(source, `corrupt JPEG (marker 0x${m.toString(16)} with length ${len})`);
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        if (o + 9 <= head.byteLength) checkPixels(source, (head[o + 7] << 8) | head[o + 8], (head[o + 5] << 8) | head[o + 6], maxPixels);
        return;
      }
      o += 2 + len;
    }
    return;
  }
  if (head[0] === 0xff && head[1] === 0xd8) return; // a JPEG start too short to tell: the whole file decides
  const start = Array.from(head.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  bad(source, kind ? `is ${kind}; webvit reads PNG and JPEG images only` : `is not a PNG or JPEG image (starts with bytes ${start})`);
}

/** `n` bytes of a file from byte `at` (fewer at its end). */
export type ReadAt = (n: number, at: number) => Promise<Uint8Array>;

const EXTENT_WINDOW = 64 * 1024;

/**
 * How many of a file's `size` bytes its image takes, so that the CLI reads no more: a PNG ends
 * with its IEND chunk and a JPEG with its EOI marker, and the decoders ignore what follows (as
 * PIL's do), so 1000 MB appended to a 400-byte PNG need not be read (it was, whole: 8 s and
 * 1.2 GB for a PNG; 25 s and 3.2 GB for a JPEG). Told by walking the PNG's chunk headers, or the
 * JPEG's markers and entropy-coded data as jpegStructure does, in 64 KiB windows from `head` on
 * (a file within its head costs no read; a big one, a read of its headers' windows, which the
 * decode costs many times over). A PNG of more chunks than the decoder allows is cut at the one
 * over (the decoder refuses it there, as it would the whole file). Where the walk cannot tell (a
 * truncated or corrupt file), the whole size: the decoder decides, as before.
 */
export async function imageExtent(head: Uint8Array, size: number, read: ReadAt): Promise<number> {
  const kind = sniff(head);
  if (kind !== 'png' && kind !== 'jpeg') return size;
  // The window starts as the head: a file within its first 64 KiB costs no read.
  let win = head;
  let winAt = 0;
  const has = (o: number, n: number) => o >= winAt && o + n <= winAt + win.length;
  /** Whether bytes [o, o + n) are in the window, reading a new one from `o` if they are not (awaited only then: a walk over many small markers stays synchronous). */
  const fill = async (o: number, n: number): Promise<boolean> => {
    if (o + n > size) return false;
    [win, winAt] = [await read(EXTENT_WINDOW, o), o];
    return win.length >= n;
  };
  if (kind === 'png') {
    // Chunk `count` is the decoder's count (IHDR is 0): length, type, data, CRC.
    for (let o = 8, count = 0; ; count++) {
      if (count > MAX_PNG_CHUNKS) return o;
      if (!has(o, 8) && !(await fill(o, 8))) return size;
      const p = o - winAt;
      const len = ((win[p] << 24) | (win[p + 1] << 16) | (win[p + 2] << 8) | win[p + 3]) >>> 0;
      const end = o + 12 + len;
      if (len > 0x7fffffff || end > size) return size;
      if (String.fromCharCode(...win.subarray(p + 4, p + 8)) === 'IEND') return end;
      o = end;
    }
  }
  // JPEG: markers without a length (SOI, TEM, RSTn), fill bytes, segments with one; after a
  // scan header its entropy-coded data, up to the next marker that is not a stuffed 0xff00 or a
  // restart (as jpegStructure walks it).
  for (let o = 2; ; ) {
    if (!has(o, 2) && !(await fill(o, 2))) return size;
    const p = o - winAt;
    const m = win[p + 1];
    if (win[p] !== 0xff) return size;
    if (m === 0xd9) return o + 2;
    if (m === 0xff || m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      o += m === 0xff ? 1 : 2;
      continue;
    }
    if (!has(o, 4) && !(await fill(o, 4))) return size;
    const len = (win[o - winAt + 2] << 8) | win[o - winAt + 3];
    if (len < 2) return size;
    o += 2 + len;
    if (m !== 0xda) continue;
    for (;;) {
      if (!has(o, 2) && !(await fill(o, 2))) return size;
      const last = win.length - 1;
      let q = o - winAt;
      while (q < last && !(win[q] === 0xff && win[q + 1] !== 0 && win[q + 1] !== 0xff && (win[q + 1] < 0xd0 || win[q + 1] > 0xd7))) q++;
      o = winAt + q;
      if (q < last) break;
    }
  }
}
