/**
 * PNG and JPEG decoding for Node, to the 8-bit RGBA that PIL's `Image.open(f).convert('RGBA')`
 * gives (and so, alpha dropped, its convert('RGB'), which torchvision's image loader uses):
 * src/image/png.ts (streaming, 4 bytes per pixel held) and src/image/jpeg.ts (libjpeg-turbo in
 * WebAssembly). The size is read from the header and checked against a pixel limit before
 * anything is decompressed or allocated (decompression bombs). Every failure is a WebvitError
 * BAD_INPUT whose one-line message names the file and the problem.
 */
import { bad, checkPixels, DEFAULT_MAX_PIXELS, type DecodedImage, type DecodeOptions } from './decoded.js';
import { clip, WebvitError } from '../runtime/errors.js';
import { decodeJpeg } from './jpeg.js';

export { releaseJpegDecoder } from './jpeg.js';
import { decodePng } from './png.js';

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
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels >= 1)) throw new WebvitError('BAD_ARGUMENT', `decodeImage: maxPixels must be a pixel count of at least 1, got ${maxPixels}`);
  if (bytes.byteLength === 0) bad(source, 'is empty (0 bytes), not an image');
  const kind = sniff(bytes);
  if (kind === 'png') return classifiable(await decodePng(bytes, source, maxPixels, options.pool));
  if (kind === 'jpeg') return classifiable(await decodeJpeg(bytes, source, maxPixels));
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
