/**
 * PNG decoding that streams: the compressed image data is inflated in pieces (Node's zlib) and
 * each scanline is unfiltered and written straight into the RGBA output. A decode holds the
 * file, the RGBA output (4 bytes per pixel) and two scanlines, whatever the bit depth.
 *
 * Why not a library's decoder: pngjs (which webvit used before, and which the tests keep as the
 * reference) holds the inflated data, the unfiltered data (twice while it joins the lines) and
 * its own 8- or 16-bit RGBA output at once, 24 bytes per pixel for 16-bit RGBA (3.7 GB for one
 * 10000 × 10000 image), and inflates interlaced images without a bound. The parts written here
 * are small and fully specified (PNG spec: §11 chunks, §9 filters, §8.2 Adam7), and
 * test/fuzz/images.test.ts checks them against pngjs on thousands of generated images of every
 * colour type, bit depth and interlace; test/kernels/preprocess.test.ts against PIL's pixels.
 *
 * Pixels are PIL's `convert('RGBA')` (and so, alpha dropped, its convert('RGB')):
 * - 1/2/4-bit grey is scaled to 0…255 as PIL does (×255, ×85, ×17);
 * - 16-bit samples keep their high byte, as PIL does for 16-bit RGB, RGBA and grey+alpha. One
 *   documented difference: PIL opens 16-bit grey as mode "I" and its convert('RGB'/'L') clips
 *   values above 255 (so nearly every such image turns white); webvit takes the high byte there too;
 * - a palette's tRNS gives the alpha; a tRNS colour key of grey/RGB images does not change any
 *   colour (PIL's convert('RGB') keeps them) and alpha stays 255;
 * - data after the last row, and chunks webvit does not know, are ignored, as PIL does.
 * Every chunk's CRC is checked; missing rows are an error (a truncated file is not padded).
 */
import { createInflate, crc32 } from 'node:zlib';
import { allocRgba, bad, checkPixels, type DecodedImage, type RgbaPool } from './decoded.js';

const COLOR_NAME: Record<number, string> = { 0: 'grey', 2: 'RGB', 3: 'palette', 4: 'grey+alpha', 6: 'RGBA' };
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7: first column, first row, column step, row step of each pass. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
/**
 * Deflate expands at most 1032:1 (a 258-byte match in 2 bits), so image data of n compressed
 * bytes cannot hold more than about 1032·n bytes: a header that promises more is refused before
 * the output is allocated (a mutated 40-byte file cannot make webvit allocate 400 MB).
 */
const MAX_INFLATE_RATIO = 1032;
const INFLATE_CHUNK = 1 << 18;
/**
 * Most chunks a file may have. Encoders write image data in IDAT chunks of 8 KB (libpng) to 1 MB:
 * 262,144 of them are 2 GB of compressed data, more than any image webvit decodes. A file of
 * millions of empty or tiny chunks (2,000,000 empty IDATs: 24 MB) is a decoding-time bomb: it is
 * refused after the walk, which costs a CRC of a few bytes per chunk.
 */
export const MAX_PNG_CHUNKS = 1 << 18;
/** IDAT data smaller than this is joined into pieces of this size before zlib sees it. */
const INFLATE_WRITE = 1 << 16;

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
  /** "PNG 16-bit RGB": names the image in errors. */
  what: string;
}

/** One image of scanlines: the whole image, or one Adam7 pass. */
interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
  /** Bytes of one unfiltered scanline (without its filter byte). */
  rowBytes: number;
}

function readHeader(b: Uint8Array, source: string, maxPixels: number): Header {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.byteLength < 33 || view.getUint32(8) !== 13 || chunkType(b, 8) !== 'IHDR') bad(source, 'truncated or corrupt PNG (no IHDR header chunk)');
  if (crc32(b.subarray(12, 29)) !== view.getUint32(29)) bad(source, 'corrupt PNG (checksum mismatch in the IHDR header chunk)');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const [depth, colorType, compression, filter, interlace] = b.subarray(24, 29);
  const what = `PNG ${depth}-bit ${COLOR_NAME[colorType] ?? `colour type ${colorType}`}`;
  if (!DEPTHS[colorType]) bad(source, `corrupt PNG: colour type ${colorType} (the header allows 0, 2, 3, 4 and 6)`);
  if (!DEPTHS[colorType].includes(depth)) bad(source, `corrupt ${what}: bit depth ${depth} is not allowed with this colour type (allowed: ${DEPTHS[colorType].join(', ')})`);
  if (compression !== 0 || filter !== 0) bad(source, `corrupt ${what}: compression method ${compression} and filter method ${filter} (PNG defines 0 and 0)`);
  if (interlace > 1) bad(source, `corrupt ${what}: interlace method ${interlace} (PNG defines 0 and 1)`);
  if (width > 0x7fffffff || height > 0x7fffffff) bad(source, `corrupt ${what}: the header says ${width}×${height} pixels (PNG allows at most 2³¹−1 a side)`);
  checkPixels(source, width, height, maxPixels);
  return { width, height, depth, colorType, interlaced: interlace === 1, what };
}

function chunkType(b: Uint8Array, o: number): string {
  return String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
}

interface Chunks {
  idat: Uint8Array[];
  idatBytes: number;
  /** RGBA per palette entry ([entries × 4]); alpha from tRNS, else 255. */
  palette?: Uint8Array;
  paletteEntries: number;
}

/** Walks every chunk after IHDR: each must fit in the file and match its CRC; up to IEND. */
function readChunks(b: Uint8Array, source: string, h: Header): Chunks {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Chunks = { idat: [], idatBytes: 0, paletteEntries: 0 };
  let trns: Uint8Array | undefined;
  let o = 33;
  for (let count = 1; ; count++) {
    if (count > MAX_PNG_CHUNKS) {
      bad(source, `${h.what} has more than ${MAX_PNG_CHUNKS} chunks (encoders write a few, up to thousands for huge images): refused as a decoding-time bomb; re-save the image`);
    }
    if (o + 12 > b.byteLength) bad(source, `truncated ${h.what} (no IEND chunk: the file ends at byte ${b.byteLength})`);
    const len = view.getUint32(o);
    const type = chunkType(b, o);
    if (!/^[A-Za-z]{4}$/.test(type)) bad(source, `corrupt ${h.what} (not a chunk at byte ${o}: type bytes ${JSON.stringify(type)})`);
    if (len > 0x7fffffff || o + 12 + len > b.byteLength) {
      bad(source, `truncated ${h.what} (${type} chunk of ${len} bytes at byte ${o} runs past the end of the file at byte ${b.byteLength})`);
    }
    const data = b.subarray(o + 8, o + 8 + len);
    if (crc32(b.subarray(o + 4, o + 8 + len)) !== view.getUint32(o + 8 + len)) bad(source, `corrupt ${h.what} (checksum mismatch in the ${type} chunk at byte ${o})`);
    if (type === 'IEND') break;
    if (type === 'IHDR') bad(source, `corrupt ${h.what} (a second IHDR chunk at byte ${o})`);
    if (type === 'IDAT') {
      if (len > 0) out.idat.push(data); // an empty one adds nothing (and would cost a zlib write)
      out.idatBytes += len;
    } else if (type === 'PLTE' && h.colorType === 3) {
      if (len === 0 || len % 3 !== 0 || len > 768) bad(source, `corrupt ${h.what} (PLTE chunk of ${len} bytes: a palette is 1 to 256 entries of 3 bytes)`);
      out.paletteEntries = len / 3;
      out.palette = new Uint8Array(256 * 4);
      for (let i = 0; i < out.paletteEntries; i++) out.palette.set([data[3 * i], data[3 * i + 1], data[3 * i + 2], 255], 4 * i);
    } else if (type === 'tRNS' && h.colorType === 3) trns = data;
    o += 12 + len;
  }
  if (out.idat.length === 0) bad(source, `corrupt ${h.what} (no image data: no IDAT chunk)`);
  if (h.colorType === 3) {
    if (!out.palette) bad(source, `corrupt ${h.what} (no PLTE chunk before the image data: a palette image needs its palette)`);
    // Entries past the palette are ignored, as PIL does.
    if (trns) for (let i = 0; i < Math.min(trns.length, out.paletteEntries); i++) out.palette![4 * i + 3] = trns[i];
  }
  return out;
}

function passesOf(h: Header): Pass[] {
  const bits = CHANNELS[h.colorType] * h.depth;
  const pass = (x0: number, y0: number, dx: number, dy: number): Pass => {
    const width = h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0;
    const height = h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0;
    return { x0, y0, dx, dy, width, height, rowBytes: Math.ceil((width * bits) / 8) };
  };
  // Empty passes have no scanlines at all (not even filter bytes).
  return (h.interlaced ? ADAM7.map(([x0, y0, dx, dy]) => pass(x0, y0, dx, dy)) : [pass(0, 0, 1, 1)]).filter((p) => p.width > 0 && p.height > 0);
}

/** PNG filter types 0–4 undone on one scanline: `out` from the filtered `raw` and the previous line. */
function unfilter(type: number, raw: Uint8Array, prev: Uint8Array, out: Uint8Array, n: number, bpp: number): void {
  // Uint8Array stores wrap modulo 256, which is the filters' arithmetic.
  switch (type) {
    case 0:
      out.set(raw.subarray(0, n));
      return;
    case 1: // Sub
      for (let x = 0; x < n; x++) out[x] = raw[x] + (x >= bpp ? out[x - bpp] : 0);
      return;
    case 2: // Up
      for (let x = 0; x < n; x++) out[x] = raw[x] + prev[x];
      return;
    case 3: // Average
      for (let x = 0; x < n; x++) out[x] = raw[x] + (((x >= bpp ? out[x - bpp] : 0) + prev[x]) >> 1);
      return;
    case 4: // Paeth
      for (let x = 0; x < n; x++) {
        const a = x >= bpp ? out[x - bpp] : 0;
        const b = prev[x];
        const c = x >= bpp ? prev[x - bpp] : 0;
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        out[x] = raw[x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      return;
  }
}

/** Receives the inflated bytes in any pieces; unfilters each scanline and writes its pixels. */
class Scanlines {
  /** Inflated bytes taken so far. */
  received = 0;
  done = false;
  private pass = 0;
  private row = 0;
  private fill = 0;
  private readonly line: Uint8Array;
  private prev: Uint8Array;
  private cur: Uint8Array;
  private readonly bpp: number;

  constructor(
    private readonly h: Header,
    private readonly passes: Pass[],
    private readonly chunks: Chunks,
    private readonly rgba: Uint8Array,
    private readonly source: string,
  ) {
    const maxRow = Math.max(...passes.map((p) => p.rowBytes));
    this.line = new Uint8Array(1 + maxRow);
    this.prev = new Uint8Array(maxRow);
    this.cur = new Uint8Array(maxRow);
    this.bpp = Math.max(1, (CHANNELS[h.colorType] * h.depth) >> 3);
  }

  /** Takes a piece of the inflated stream; true once every scanline is in (the rest is ignored). */
  push(chunk: Uint8Array): boolean {
    let o = 0;
    while (o < chunk.length && !this.done) {
      const p = this.passes[this.pass];
      const n = Math.min(1 + p.rowBytes - this.fill, chunk.length - o);
      this.line.set(chunk.subarray(o, o + n), this.fill);
      this.fill += n;
      o += n;
      this.received += n;
      if (this.fill === 1 + p.rowBytes) {
        this.fill = 0;
        this.scanline(p);
      }
    }
    return this.done;
  }

  private scanline(p: Pass): void {
    const type = this.line[0];
    if (type > 4) {
      const where = this.passes.length > 1 ? ` of interlace pass ${this.pass + 1}` : '';
      bad(this.source, `corrupt ${this.h.what} (scanline ${this.row}${where} has filter type ${type}; PNG defines 0 to 4)`);
    }
    if (this.row === 0) this.prev.fill(0, 0, p.rowBytes);
    unfilter(type, this.line.subarray(1), this.prev, this.cur, p.rowBytes, this.bpp);
    this.pixels(p, this.row, this.cur);
    [this.prev, this.cur] = [this.cur, this.prev];
    if (++this.row === p.height) {
      this.row = 0;
      if (++this.pass === this.passes.length) this.done = true;
    }
  }

  /** One unfiltered scanline of pass `p` → RGBA at its pixels' places. */
  private pixels(p: Pass, y: number, s: Uint8Array): void {
    const { depth, colorType } = this.h;
    const out = this.rgba;
    const n = p.width;
    const step = 4 * p.dx;
    let d = 4 * ((p.y0 + y * p.dy) * this.h.width + p.x0);
    if (depth < 8) {
      // 1, 2 or 4 bits: grey (scaled as PIL: ×255, ×85, ×17) or a palette index; leftmost pixel in the high bits.
      const mask = (1 << depth) - 1;
      const scale = 255 / mask;
      const palette = this.chunks.palette;
      for (let i = 0; i < n; i++, d += step) {
        const bit = i * depth;
        const v = (s[bit >> 3] >> (8 - depth - (bit & 7))) & mask;
        if (palette) this.paletteEntry(v, d, palette);
        else {
          out[d] = out[d + 1] = out[d + 2] = v * scale;
          out[d + 3] = 255;
        }
      }
      return;
    }
    const B = depth >> 3; // bytes per sample; of a 16-bit sample (big-endian) the first is the high byte
    switch (colorType) {
      case 0:
        for (let i = 0, j = 0; i < n; i++, d += step, j += B) {
          out[d] = out[d + 1] = out[d + 2] = s[j];
          out[d + 3] = 255;
        }
        return;
      case 2:
        for (let i = 0, j = 0; i < n; i++, d += step, j += 3 * B) {
          out[d] = s[j];
          out[d + 1] = s[j + B];
          out[d + 2] = s[j + 2 * B];
          out[d + 3] = 255;
        }
        return;
      case 3:
        for (let i = 0; i < n; i++, d += step) this.paletteEntry(s[i], d, this.chunks.palette!);
        return;
      case 4:
        for (let i = 0, j = 0; i < n; i++, d += step, j += 2 * B) {
          out[d] = out[d + 1] = out[d + 2] = s[j];
          out[d + 3] = s[j + B];
        }
        return;
      case 6:
        for (let i = 0, j = 0; i < n; i++, d += step, j += 4 * B) {
          out[d] = s[j];
          out[d + 1] = s[j + B];
          out[d + 2] = s[j + 2 * B];
          out[d + 3] = s[j + 3 * B];
        }
        return;
    }
  }

  private paletteEntry(index: number, d: number, palette: Uint8Array): void {
    if (index >= this.chunks.paletteEntries) {
      bad(this.source, `corrupt ${this.h.what} (a pixel uses palette entry ${index}, but the palette has ${this.chunks.paletteEntries})`);
    }
    const o = 4 * index;
    this.rgba[d] = palette[o];
    this.rgba[d + 1] = palette[o + 1];
    this.rgba[d + 2] = palette[o + 2];
    this.rgba[d + 3] = palette[o + 3];
  }
}

/** Inflates the IDAT data through `rows`, stopping as soon as every scanline is in. */
function inflateInto(idat: Uint8Array[], rows: Scanlines, want: number, source: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const z = createInflate({ chunkSize: INFLATE_CHUNK });
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      z.destroy();
      if (err) reject(err);
      else resolve();
    };
    const short = (why: string) => {
      try {
        bad(source, `truncated or corrupt ${what}: the image data holds ${rows.received} of the ${want} bytes its header promises${why}`);
      } catch (e) {
        finish(e);
      }
    };
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        if (rows.push(chunk)) finish();
      } catch (e) {
        finish(e);
      }
    });
    z.on('error', (e: Error) => {
      if (rows.done) return finish();
      if (/unexpected end of file/i.test(e.message)) return short(' (the compressed stream is cut short)');
      try {
        bad(source, `corrupt ${what} (image data: ${e.message})`);
      } catch (err) {
        finish(err);
      }
    });
    z.on('end', () => (rows.done ? finish() : short('')));
    // Small parts are joined (one zlib write per part made millions of tiny chunks superlinear).
    let joined: Uint8Array | undefined;
    let fill = 0;
    const flush = () => {
      if (fill > 0) z.write(joined!.subarray(0, fill));
      joined = undefined;
      fill = 0;
    };
    for (const part of idat) {
      if (part.length >= INFLATE_WRITE) {
        flush();
        z.write(part);
        continue;
      }
      if (fill + part.length > INFLATE_WRITE) flush();
      joined ??= new Uint8Array(INFLATE_WRITE);
      joined.set(part, fill);
      fill += part.length;
    }
    flush();
    z.end();
  });
}

/** Decodes a PNG file's bytes (signature already checked) to RGBA. */
export async function decodePng(bytes: Uint8Array, source: string, maxPixels: number, pool?: RgbaPool): Promise<DecodedImage> {
  const h = readHeader(bytes, source, maxPixels);
  const chunks = readChunks(bytes, source, h);
  const passes = passesOf(h);
  const want = passes.reduce((a, p) => a + p.height * (1 + p.rowBytes), 0);
  if (want > MAX_INFLATE_RATIO * chunks.idatBytes + 1024) {
    bad(source, `truncated or corrupt ${h.what}: its ${chunks.idatBytes} bytes of compressed image data cannot hold the ${want} bytes its ${h.width}×${h.height} header promises (deflate expands at most ${MAX_INFLATE_RATIO}:1)`);
  }
  const rgba = allocRgba(source, h.width, h.height, pool);
  await inflateInto(chunks.idat, new Scanlines(h, passes, chunks, rgba, source), want, source, h.what);
  return { width: h.width, height: h.height, rgba, format: 'png', kind: h.what };
}
