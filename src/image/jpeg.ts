/**
 * JPEG decoding with @jsquash/jpeg: libjpeg-turbo (mozjpeg's decoder) compiled to WebAssembly,
 * with libjpeg's defaults (islow IDCT, fancy upsampling), the same decoder and settings as
 * PIL's, so the pixels are PIL's bit for bit. CMYK JPEGs are refused. A truncated JPEG is an
 * error, as in PIL (libjpeg alone would pad it with grey).
 *
 * Memory: the decoder's WebAssembly memory grows to hold the decoded image (4 bytes per pixel
 * plus libjpeg's buffers) and a WebAssembly memory never shrinks. One instance serves every
 * decode, so its memory is reused: a loop over many JPEGs holds the largest one's size once.
 * (Dropping the instance after each large image measured worse: 1.9 GB instead of 1.5 GB for
 * eight 10000 × 10000 JPEGs, as the garbage collector frees a dropped memory late.)
 * `releaseJpegDecoder()` lets a long-lived process give it back.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { bad, checkPixels, formatCount, formatPixels, type DecodedImage } from './decoded.js';
import { WebvitError } from '../errors.js';

interface JpegHeader {
  width: number;
  height: number;
  components: number;
  /** Component ids of the frame, in order. */
  ids: number[];
  /** The SOFn marker: 0xc0/0xc1 sequential Huffman, 0xc2 progressive Huffman, others rarer. */
  sof: number;
  process: string;
}

interface JpegScan {
  /** Component ids the scan codes. */
  ids: number[];
  /** Spectral selection start and successive-approximation high bit: a DC first scan has both 0. */
  ss: number;
  ah: number;
}

/**
 * Walks the markers: the frame header (SOFn: size and components) and, after it, each scan's
 * header (which components, DC or AC), skipping the entropy-coded data. Nothing is decoded.
 */
function jpegStructure(b: Uint8Array, source: string): { header: JpegHeader; scans: JpegScan[]; scanCount: number } {
  let header: JpegHeader | undefined;
  const scans: JpegScan[] = [];
  let scanCount = 0; // every SOS segment, well-formed or not: libjpeg makes a pass for each
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
    if (m === 0xd9 || (m === 0xda && !header)) break; // EOI, or SOS before any frame header
    const len = (b[o + 2] << 8) | b[o + 3];
    if (len < 2) bad(source, `corrupt JPEG (marker 0x${m.toString(16)} with length ${len})`);
    if (o + 2 + len > b.byteLength) break; // truncated: libjpeg says so
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof && !header) {
      if (len < 8) break;
      const components = b[o + 9];
      const ids = Array.from({ length: Math.min(components, Math.floor((len - 8) / 3)) }, (_, i) => b[o + 10 + 3 * i]);
      const process = m === 0xc2 ? 'progressive' : m === 0xc0 || m === 0xc1 ? 'baseline' : `SOF${m - 0xc0}`;
      header = { height: (b[o + 5] << 8) | b[o + 6], width: (b[o + 7] << 8) | b[o + 8], components, ids, sof: m, process };
    }
    o += 2 + len;
    if (m === 0xda) {
      scanCount++;
      const ns = b[o - len + 2];
      if (len >= 6 + 2 * ns) scans.push({ ids: Array.from({ length: ns }, (_, i) => b[o - len + 3 + 2 * i]), ss: b[o - len + 3 + 2 * ns], ah: b[o - len + 5 + 2 * ns] >> 4 });
      // Entropy-coded data: up to the next marker that is not a stuffed 0xff00 or a restart marker.
      while (o + 1 < b.byteLength && !(b[o] === 0xff && b[o + 1] !== 0 && b[o + 1] !== 0xff && (b[o + 1] < 0xd0 || b[o + 1] > 0xd7))) o++;
    }
  }
  if (!header) return bad(source, 'truncated or corrupt JPEG (no frame header before the image data)');
  // Arithmetic-coded (SOF9–SOF11, SOF13–SOF15): valid JPEG that libjpeg-turbo's build here does not decode.
  if ((header.sof >= 0xc9 && header.sof <= 0xcb) || header.sof >= 0xcd) {
    return bad(source, `is an arithmetic-coded JPEG (${header.process}), which webvit does not decode; re-encode it as a baseline or progressive JPEG, or as PNG`);
  }
  // Lossless (SOF3) and hierarchical (SOF5–SOF7) JPEG: valid, rare, and not decoded (it read as "corrupt").
  if (header.sof === 0xc3 || (header.sof >= 0xc5 && header.sof <= 0xc7)) {
    return bad(source, `is a ${header.sof === 0xc3 ? 'lossless' : 'hierarchical'} JPEG (${header.process}), which webvit does not decode; re-encode it as a baseline or progressive JPEG, or as PNG`);
  }
  return { header, scans, scanCount };
}

/**
 * Bounds on a JPEG's scans, the decoding-time bomb that the pixel limit misses: libjpeg makes a
 * pass over every block of a scan's components for each scan, even an empty one (a progressive
 * refinement scan that is one end-of-band run), so a file of well under a megabyte that repeats
 * a refinement scan 2000 times at 8000 × 8000 decodes for minutes (~60 ms a scan). libjpeg-turbo
 * leaves the bound to its users (djpeg -maxscans, TJPARAM_SCANLIMIT); these are webvit's:
 * - MAX_JPEG_SCANS scans in any JPEG. libjpeg's (and PIL's) progressive script writes 10 scans
 *   for colour and 6 for greyscale; one scan per coefficient band and component with every
 *   successive-approximation step, which no encoder's script comes near, is about 200.
 * - JPEG_SCANS_PER_PIXEL × the pixel limit for scans × pixels: at the default limit (100 million
 *   pixels) 3.2 billion pixel-scans, which a usual 10-scan progressive photo at the limit passes
 *   three times over. Measured on a busy 2-core machine at 8000 × 8000 (64 M pixels): 2.7 s for
 *   PIL's 10 scans, 8.7 s for 50 (the most allowed at that size); the issue's 2010 scans, once
 *   minutes, are refused in 0.07 s.
 */
export const MAX_JPEG_SCANS = 256;
export const JPEG_SCANS_PER_PIXEL = 32;

function checkScans(source: string, h: JpegHeader, scanCount: number, maxPixels: number, what: string): void {
  const redo = 're-encode it (as a baseline JPEG, or progressive with the usual ~10 scans)';
  if (scanCount > MAX_JPEG_SCANS) {
    bad(source, `${what} has ${scanCount} scans, above the limit of ${MAX_JPEG_SCANS} (libjpeg's progressive JPEGs have 10; each scan is a pass over the image, so this many is a decoding-time bomb); ${redo}`);
  }
  const pixels = h.width * h.height;
  const work = scanCount * pixels;
  const limit = JPEG_SCANS_PER_PIXEL * maxPixels;
  if (work > limit) {
    bad(
      source,
      `${what} has ${scanCount} scans of ${h.width}×${h.height} = ${formatPixels(pixels)}: ${formatCount(work)} pixel-scans, above the limit of ${formatCount(limit)} ` +
        `(${JPEG_SCANS_PER_PIXEL} scans per pixel at the limit of ${formatPixels(maxPixels)}); ${redo}, or raise the pixel limit (--max-pixels, or the maxPixels decode option)`,
    );
  }
}

/**
 * Refuses a file too small for the size its header claims, before libjpeg allocates the output
 * (and, for progressive files, a coefficient buffer): every 8×8 block of the largest component
 * costs at least 2 bits in a sequential Huffman file (a DC and an end-of-block code) and at least
 * 1 bit in a progressive file's DC scan, which each component must have (libjpeg would only warn
 * and fill it with grey). Arithmetic-coded and lossless files, which are rare, are bounded by
 * the pixel limit only.
 */
function checkDataSize(b: Uint8Array, source: string, h: JpegHeader, scans: JpegScan[], what: string): void {
  const blocks = Math.ceil(h.width / 8) * Math.ceil(h.height / 8);
  const bitsPerBlock = h.sof === 0xc0 || h.sof === 0xc1 ? 2 : h.sof === 0xc2 ? 1 : 0;
  if (h.sof === 0xc2) {
    const missing = h.ids.filter((id) => !scans.some((s) => s.ss === 0 && s.ah === 0 && s.ids.includes(id)));
    if (missing.length && scans.length) bad(source, `corrupt ${what}: component${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no DC scan`);
  }
  if (bitsPerBlock && blocks * bitsPerBlock > 8 * b.byteLength) {
    bad(source, `truncated or corrupt ${what}: its ${b.byteLength} bytes cannot hold the ${h.width}×${h.height} pixels its header promises (at least ${bitsPerBlock} bit${bitsPerBlock > 1 ? 's' : ''} per 8×8 block: ${Math.ceil((blocks * bitsPerBlock) / 8)} bytes)`);
  }
}

interface JpegModule {
  decode: (data: Uint8Array, preserveOrientation: boolean) => { width: number; height: number; data: Uint8ClampedArray } | null;
}

let compiled: Promise<WebAssembly.Module> | undefined;
let decoder: Promise<JpegModule> | undefined;
/** Messages libjpeg printed during the current decode (warnings and the fatal error). */
let jpegMessages: string[] = [];

function newDecoder(): Promise<JpegModule> {
  const require = createRequire(import.meta.url);
  let wasmPath: string;
  try {
    wasmPath = require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
  } catch (e) {
    // An optional peer dependency of webvit (docs/packaging.md); the CLI package brings it.
    return Promise.reject(new WebvitError('MISSING_PACKAGE', 'decoding a JPEG in Node needs the npm package `@jsquash/jpeg` (libjpeg-turbo in WebAssembly), which is not installed (an optional peer dependency of webvit): `npm install @jsquash/jpeg`, or give a PNG', { cause: e }));
  }
  compiled ??= WebAssembly.compile(readFileSync(wasmPath));
  compiled.catch(() => (compiled = undefined));
  const d = (async () => {
    const wasm = await compiled!;
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
  d.catch(() => (decoder = undefined));
  return d;
}

/** Drops the decoder instance and its WebAssembly memory (freed by the next garbage collection); the next decode makes a new one. */
export function releaseJpegDecoder(): void {
  decoder = undefined;
}

export async function decodeJpeg(bytes: Uint8Array, source: string, maxPixels: number): Promise<DecodedImage> {
  const { header: h, scans, scanCount } = jpegStructure(bytes, source);
  checkPixels(source, h.width, h.height, maxPixels);
  const what = `JPEG ${h.process}, ${h.components} component${h.components === 1 ? '' : 's'}`;
  if (h.components !== 1 && h.components !== 3) {
    bad(source, `is a ${h.components === 4 ? 'CMYK' : `${h.components}-component`} JPEG; webvit reads greyscale and colour (YCbCr/RGB) JPEGs only`);
  }
  checkScans(source, h, scanCount, maxPixels, what);
  checkDataSize(bytes, source, h, scans, what);
  decoder ??= newDecoder();
  const module = await decoder;
  jpegMessages = [];
  let out: ReturnType<JpegModule['decode']>;
  try {
    out = module.decode(bytes, false);
  } catch (e) {
    decoder = undefined; // a fatal libjpeg error exits the module: start a fresh one next time
    const why = jpegMessages.join('; ') || (e as Error).message;
    return bad(source, `corrupt JPEG (${why})`);
  }
  const warnings = jpegMessages.join('; ');
  if (!out) return bad(source, `corrupt JPEG${warnings ? ` (${warnings})` : ''}`);
  if (/premature end/i.test(warnings)) bad(source, `truncated JPEG (${warnings})`);
  if (out.width !== h.width || out.height !== h.height) bad(source, `corrupt JPEG: decoded ${out.width}×${out.height}, header says ${h.width}×${h.height}`);
  // The binding copies the pixels out of the WebAssembly memory: they are ours. (Copying them
  // once more into a DecodeOptions.pool measured worse: both copies exist at the peak.)
  const rgba = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  return { width: out.width, height: out.height, rgba, format: 'jpeg', kind: what };
}
