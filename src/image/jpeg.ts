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
import { bad, checkPixels, type DecodedImage } from './decoded.js';


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

let compiled: Promise<WebAssembly.Module> | undefined;
let decoder: Promise<JpegModule> | undefined;
/** Messages libjpeg printed during the current decode (warnings and the fatal error). */
let jpegMessages: string[] = [];

function newDecoder(): Promise<JpegModule> {
  const require = createRequire(import.meta.url);
  compiled ??= WebAssembly.compile(readFileSync(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
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
  const h = jpegHeader(bytes, source);
  checkPixels(source, h.width, h.height, maxPixels);
  const what = `JPEG ${h.process}, ${h.components} component${h.components === 1 ? '' : 's'}`;
  if (h.components !== 1 && h.components !== 3) {
    bad(source, `is a ${h.components === 4 ? 'CMYK' : `${h.components}-component`} JPEG; webvit reads greyscale and colour (YCbCr/RGB) JPEGs only`);
  }
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
