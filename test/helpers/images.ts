/** Hand-made image files for tests of what the decoder refuses. */

export function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
/** A PNG whose header claims width × height (8-bit RGB); `idat` (compressed data) optional. */
export function pngWithHeader(width: number, height: number, idat?: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return concatBytes([PNG_SIGNATURE, pngChunk('IHDR', ihdr), ...(idat ? [pngChunk('IDAT', idat)] : []), pngChunk('IEND', new Uint8Array(0))]);
}
/** A JPEG start with a baseline frame header claiming width × height × components, and no image data. */
export function jpegWithHeader(width: number, height: number, components = 3): Uint8Array {
  const sof = [0xff, 0xc0, 0, 8 + 3 * components, 8, height >> 8, height & 255, width >> 8, width & 255, components];
  for (let i = 0; i < components; i++) sof.push(i + 1, 0x11, 0);
  return new Uint8Array([0xff, 0xd8, ...sof, 0xff, 0xd9]);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Bit depths each PNG colour type allows. */
export const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

export interface PngSpec {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced?: boolean;
  /** Filtered scanline bytes (filter byte first) as the encoder stores them: any bytes with filter types 0–4 make a valid image. */
  raw: Uint8Array;
  /** Palette RGB triples (colour type 3). */
  palette?: Uint8Array;
  trns?: Uint8Array;
  /** Splits the compressed data into IDAT chunks of at most this many bytes (default: one chunk). */
  idatSize?: number;
}

/** Bytes of filtered scanlines (a filter byte per row) a PNG of this kind holds. */
export function pngRawBytes(width: number, height: number, depth: number, colorType: number, interlaced = false): number {
  const rowBytes = (w: number) => Math.ceil((w * PNG_CHANNELS[colorType] * depth) / 8);
  const passes = interlaced ? ADAM7 : [[0, 0, 1, 1]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (w && h) total += h * (1 + rowBytes(w));
  }
  return total;
}

/** A PNG file of any colour type, bit depth and interlace from its filtered scanlines. */
export function encodePng(s: PngSpec, deflate: (b: Uint8Array) => Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, s.width);
  v.setUint32(4, s.height);
  ihdr.set([s.depth, s.colorType, 0, 0, s.interlaced ? 1 : 0], 8);
  const z = deflate(s.raw);
  const size = s.idatSize ?? z.length;
  const idat: Uint8Array[] = [];
  for (let o = 0; o < z.length || o === 0; o += size) idat.push(pngChunk('IDAT', z.subarray(o, o + size)));
  return concatBytes([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    ...(s.palette ? [pngChunk('PLTE', s.palette)] : []),
    ...(s.trns ? [pngChunk('tRNS', s.trns)] : []),
    ...idat,
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

interface JpegEncoder {
  encode(data: Uint8Array, width: number, height: number, options: object): Uint8Array;
}
let jpegEncoder: Promise<JpegEncoder> | undefined;

export interface JpegOptions {
  quality?: number;
  progressive?: boolean;
  /** 1: greyscale (one component), 2: RGB, 3: YCbCr (default). */
  colorSpace?: 1 | 2 | 3;
  /** 1: 4:4:4, 2: 4:2:0 (mozjpeg's chroma_subsample). */
  chromaSubsample?: number;
  arithmetic?: boolean;
}

/** Encodes RGBA pixels as a JPEG with mozjpeg (the @jsquash/jpeg encoder, in WebAssembly). */
export async function encodeJpeg(rgba: Uint8Array, width: number, height: number, o: JpegOptions = {}): Promise<Uint8Array> {
  jpegEncoder ??= (async () => {
    const { createRequire } = await import('node:module');
    const { readFileSync } = await import('node:fs');
    const require = createRequire(import.meta.url);
    const wasm = await WebAssembly.compile(readFileSync(require.resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm')));
    const factory = (await import('@jsquash/jpeg/codec/enc/mozjpeg_enc.js')).default as unknown as (opts: object) => Promise<JpegEncoder>;
    return factory({
      noInitialRun: true,
      instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) => {
        const instance = new WebAssembly.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      // mozjpeg's notes ("quantization tables are too coarse for baseline JPEG") are not test output.
      print: () => undefined,
      printErr: () => undefined,
    });
  })();
  const enc = await jpegEncoder;
  const out = enc.encode(rgba, width, height, {
    quality: o.quality ?? 75,
    baseline: false,
    arithmetic: o.arithmetic ?? false,
    progressive: o.progressive ?? false,
    optimize_coding: true,
    smoothing: 0,
    color_space: o.colorSpace ?? 3,
    quant_table: 3,
    trellis_multipass: false,
    trellis_opt_zero: false,
    trellis_opt_table: false,
    trellis_loops: 1,
    auto_subsample: false,
    chroma_subsample: o.chromaSubsample ?? 2,
    separate_chroma_quality: false,
    chroma_quality: 75,
  });
  return out.slice();
}
