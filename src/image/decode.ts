/**
 * PNG and JPEG decoding for Node, to the 8-bit RGBA that PIL's `Image.open(f).convert('RGBA')`
 * gives (and so, alpha dropped, its convert('RGB'), which torchvision's image loader uses).
 *
 * - PNG: pngjs (pure JS, every bit depth, palette, tRNS, interlacing, CRC checked). 1/2/4-bit
 *   grey is scaled to 0…255 as PIL does (×255, ×85, ×17); 16-bit samples keep their high byte, as
 *   PIL does for 16-bit RGB, RGBA and grey+alpha. One documented difference: PIL opens 16-bit grey
 *   as mode "I" and its convert('RGB'/'L') clips values above 255 (so nearly every such image
 *   turns white); webvit takes the high byte there too. A tRNS colour key does not change colours
 *   (pngjs would zero them; PIL's convert('RGB') keeps them), so it is removed before decoding.
 * - JPEG: @jsquash/jpeg, libjpeg-turbo (mozjpeg's decoder) compiled to WebAssembly, with
 *   libjpeg's defaults (islow IDCT, fancy upsampling), the same decoder and settings as PIL's, so
 *   the pixels are PIL's bit for bit. CMYK JPEGs are refused. A truncated JPEG is an error, as in
 *   PIL (libjpeg alone would pad it with grey).
 *
 * The size is read from the header and checked against a pixel limit before anything is
 * decompressed (decompression bombs).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { WebvitError } from '../runtime/errors.js';

export interface DecodedImage {
  width: number;
  height: number;
  /** width × height × 4 bytes, row-major RGBA (as one u32 per pixel: R in the low byte). */
  rgba: Uint8Array;
  format: 'png' | 'jpeg';
  /** The file's own description: "PNG 16-bit RGB", "JPEG 3 components 2×2 chroma subsampling"… */
  kind: string;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default 100 million). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

const bad = (source: string, msg: string): never => {
  throw new WebvitError('BAD_INPUT', `${source}: ${msg}`);
};

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

function checkPixels(source: string, width: number, height: number, maxPixels: number): void {
  if (width < 1 || height < 1) bad(source, `image header says ${width}×${height} pixels: corrupt image`);
  if (width * height > maxPixels) {
    bad(source, `image is ${width}×${height} = ${((width * height) / 1e6).toFixed(1)} megapixels, above the limit of ${(maxPixels / 1e6).toFixed(1)} (a decompression bomb, or raise the limit with --max-pixels)`);
  }
}

/** Decodes a PNG or JPEG file's bytes. Errors are one line naming `source` and the problem. */
export async function decodeImage(bytes: Uint8Array, source: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.byteLength === 0) bad(source, 'is empty (0 bytes), not an image');
  const kind = sniff(bytes);
  if (kind === 'png') return decodePng(bytes, source, maxPixels);
  if (kind === 'jpeg') return decodeJpeg(bytes, source, maxPixels);
  const head = Array.from(bytes.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return bad(source, kind ? `is ${kind}; webvit reads PNG and JPEG images only` : `is not a PNG or JPEG image (starts with bytes ${head})`);
}

// ---------------------------------------------------------------------------------------------- PNG

const PNG_COLOR: Record<number, string> = { 0: 'grey', 2: 'RGB', 3: 'palette', 4: 'grey+alpha', 6: 'RGBA' };
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** Bytes of filtered scanlines (a filter byte per row) a PNG's image data decompresses to. */
function pngRawBytes(width: number, height: number, depth: number, channels: number, interlaced: boolean): number {
  const rowBytes = (w: number) => Math.ceil((w * channels * depth) / 8);
  if (!interlaced) return height * (1 + rowBytes(width));
  let total = 0;
  for (const [xs, ys, dx, dy] of ADAM7) {
    const w = width > xs ? Math.ceil((width - xs) / dx) : 0;
    const h = height > ys ? Math.ceil((height - ys) / dy) : 0;
    if (w && h) total += h * (1 + rowBytes(w));
  }
  return total;
}

function decodePng(bytes: Uint8Array, source: string, maxPixels: number): DecodedImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = (o: number) => String.fromCharCode(...bytes.subarray(o + 4, o + 8));
  if (bytes.byteLength < 33 || chunkType(8) !== 'IHDR') bad(source, 'truncated or corrupt PNG (no IHDR header chunk)');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const colorType = bytes[25];
  checkPixels(source, width, height, maxPixels);
  const what = `PNG ${depth}-bit ${PNG_COLOR[colorType] ?? `colour type ${colorType}`}`;

  // Walk the chunks: check they fit in the file, find IEND, and drop a tRNS colour key of
  // grey/RGB images (pngjs would turn those pixels black; PIL's convert('RGB') keeps them).
  let o = 8;
  let sawEnd = false;
  const keep: [number, number][] = [];
  const idat: Uint8Array[] = [];
  while (o + 8 <= bytes.byteLength) {
    const len = view.getUint32(o);
    const type = chunkType(o);
    const end = o + 12 + len;
    if (end > bytes.byteLength) bad(source, `truncated PNG (${type} chunk runs past the end of the file at byte ${bytes.byteLength})`);
    if (type === 'IDAT') idat.push(bytes.subarray(o + 8, o + 8 + len));
    if (!(type === 'tRNS' && (colorType === 0 || colorType === 2))) keep.push([o, end]);
    o = end;
    if (type === 'IEND') {
      sawEnd = true;
      break;
    }
  }
  if (!sawEnd) bad(source, 'truncated PNG (no IEND chunk)');
  if (idat.length === 0) bad(source, 'corrupt PNG (no image data: no IDAT chunk)');
  // The image data must hold every row the header promises (pngjs would fill missing rows silently).
  const want = pngRawBytes(width, height, depth, PNG_CHANNELS[colorType] ?? 0, bytes[28] === 1);
  let got = 0;
  try {
    got = inflateSync(Buffer.concat(idat), { maxOutputLength: want }).byteLength;
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE') bad(source, `corrupt ${what} (image data: ${(e as Error).message})`);
    got = want; // more data than needed: ignored, as PIL does
  }
  if (got < want) bad(source, `truncated or corrupt ${what}: the image data holds ${got} of the ${want} bytes its header promises`);
  let data = bytes;
  if (keep.length !== 0 && keep.reduce((a, [s, e]) => a + e - s, 8) !== o) {
    data = new Uint8Array(keep.reduce((a, [s, e]) => a + e - s, 8));
    data.set(bytes.subarray(0, 8));
    let w = 8;
    for (const [s, e] of keep) {
      data.set(bytes.subarray(s, e), w);
      w += e - s;
    }
  }

  let png: { width: number; height: number; data: Uint8Array | Uint16Array };
  try {
    png = PNG.sync.read(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { skipRescale: depth === 16 }) as unknown as typeof png;
  } catch (e) {
    return bad(source, `corrupt ${what} (${(e as Error).message})`);
  }
  const n = width * height * 4;
  if (png.width !== width || png.height !== height || png.data.length !== n) bad(source, `corrupt ${what}: decoded size does not match its header`);
  let rgba: Uint8Array;
  if (depth === 16) {
    rgba = new Uint8Array(n);
    const src = png.data as Uint16Array;
    for (let i = 0; i < n; i++) rgba[i] = src[i] >> 8;
  } else {
    const src = png.data as Uint8Array;
    rgba = new Uint8Array(src.buffer, src.byteOffset, n);
  }
  return { width, height, rgba, format: 'png', kind: what };
}

// --------------------------------------------------------------------------------------------- JPEG

interface JpegHeader {
  width: number;
  height: number;
  components: number;
  process: string;
}

/** Finds the frame header (SOFn) by walking the markers: size and components, before decoding. */
function jpegHeader(b: Uint8Array, source: string): JpegHeader {
  let o = 2;
  while (o + 4 <= b.byteLength) {
    if (b[o] !== 0xff) bad(source, `corrupt JPEG (expected a marker at byte ${o}, found 0x${b[o].toString(16)})`);
    const m = b[o + 1];
    if (m === 0xff) {
      o++; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      o += 2;
      continue;
    }
    if (m === 0xd9 || m === 0xda) break; // EOI or SOS before any frame header
    const len = (b[o + 2] << 8) | b[o + 3];
    if (len < 2) bad(source, `corrupt JPEG (marker 0x${m.toString(16)} with length ${len})`);
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (o + 2 + len > b.byteLength || len < 8) break;
      const height = (b[o + 5] << 8) | b[o + 6];
      const width = (b[o + 7] << 8) | b[o + 8];
      const components = b[o + 9];
      const process = m === 0xc2 ? 'progressive' : m === 0xc0 || m === 0xc1 ? 'baseline' : `SOF${m - 0xc0}`;
      return { width, height, components, process };
    }
    o += 2 + len;
  }
  return bad(source, 'truncated or corrupt JPEG (no frame header before the image data)');
}

interface JpegModule {
  decode: (data: Uint8Array, preserveOrientation: boolean) => { width: number; height: number; data: Uint8ClampedArray } | null;
}

let jpegModule: Promise<JpegModule> | undefined;
/** Messages libjpeg printed during the current decode (warnings and the fatal error). */
let jpegMessages: string[] = [];

async function jpegDecoder(): Promise<JpegModule> {
  jpegModule ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasm = await WebAssembly.compile(readFileSync(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
    const factory = (await import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js')).default as (opts: object) => Promise<JpegModule>;
    return factory({
      noInitialRun: true,
      instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) => {
        const instance = new WebAssembly.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      print: (s: string) => jpegMessages.push(s),
      printErr: (s: string) => jpegMessages.push(s),
    });
  })();
  jpegModule.catch(() => (jpegModule = undefined));
  return jpegModule;
}

async function decodeJpeg(bytes: Uint8Array, source: string, maxPixels: number): Promise<DecodedImage> {
  const h = jpegHeader(bytes, source);
  checkPixels(source, h.width, h.height, maxPixels);
  const what = `JPEG ${h.process}, ${h.components} component${h.components === 1 ? '' : 's'}`;
  if (h.components !== 1 && h.components !== 3) {
    bad(source, `is a ${h.components === 4 ? 'CMYK' : `${h.components}-component`} JPEG; webvit reads greyscale and colour (YCbCr/RGB) JPEGs only`);
  }
  const mod = await jpegDecoder();
  jpegMessages = [];
  let out: ReturnType<JpegModule['decode']>;
  try {
    out = mod.decode(bytes, false);
  } catch (e) {
    jpegModule = undefined; // a fatal libjpeg error exits the module: start a fresh one next time
    const why = jpegMessages.join('; ') || (e as Error).message;
    return bad(source, `corrupt JPEG (${why})`);
  }
  const warnings = jpegMessages.join('; ');
  if (!out) return bad(source, `corrupt JPEG${warnings ? ` (${warnings})` : ''}`);
  if (/premature end/i.test(warnings)) bad(source, `truncated JPEG (${warnings})`);
  if (out.width !== h.width || out.height !== h.height) bad(source, `corrupt JPEG: decoded ${out.width}×${out.height}, header says ${h.width}×${h.height}`);
  const rgba = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  return { width: out.width, height: out.height, rgba, format: 'jpeg', kind: what };
}
