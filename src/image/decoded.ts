/** What the PNG and JPEG decoders return, and the checks they share. */
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
  /**
   * Refuse images with more pixels than this (default 100 million), and JPEGs whose scans ×
   * pixels exceed 32 times this (src/image/jpeg.ts).
   */
  maxPixels?: number;
  /**
   * Decode PNGs into this pool's buffer instead of a new one; the returned `rgba` is then valid
   * until the next decode with the same pool. For loops over many images: a new buffer per image
   * is freed only when the garbage collector gets to it (V8 may keep one or two dead 400 MB
   * buffers of 100-megapixel images), a pool holds one. JPEGs come in their decoder's own copy.
   */
  pool?: RgbaPool;
}

/** One reusable RGBA buffer, grown when an image needs more (see DecodeOptions.pool). */
export class RgbaPool {
  private buffer?: ArrayBuffer;

  /** A view of `bytes` bytes of the pool's buffer (its contents are not cleared). */
  take(bytes: number): Uint8Array {
    if (!this.buffer || this.buffer.byteLength < bytes) {
      this.buffer = undefined; // let the old one go before the new one is allocated
      this.buffer = new ArrayBuffer(bytes);
    }
    return new Uint8Array(this.buffer, 0, bytes);
  }

  /** Lets the buffer go (the next take() allocates). */
  release(): void {
    this.buffer = undefined;
  }
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

/** "1 pixel", "19,895 pixels". */
export function formatPixels(n: number): string {
  return `${formatCount(n)} pixel${n === 1 ? '' : 's'}`;
}

/** Throws the decoders' one kind of error: BAD_INPUT, naming the file first. */
export function bad(source: string, msg: string): never {
  throw new WebvitError('BAD_INPUT', `${source}: ${msg}`);
}

/** 100000000 → "100,000,000": exact at every scale (a limit of 100 pixels is not "0.0 megapixels"). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

/**
 * The header's size against the pixel limit, before anything proportional to it is allocated
 * or decompressed (decompression bombs: a few bytes can claim 65535 × 65535 pixels).
 */
export function checkPixels(source: string, width: number, height: number, maxPixels: number): void {
  if (width < 1 || height < 1) bad(source, `image header says ${width}×${height} pixels: corrupt image`);
  if (width * height > maxPixels) {
    // The product in integers: beyond 2^53 a double rounds it (…609 printed as …600).
    const exact = (BigInt(width) * BigInt(height)).toLocaleString('en-US');
    bad(
      source,
      `image is ${width}×${height} = ${exact} pixels, above the limit of ${formatPixels(maxPixels)} ` +
        `(a decompression bomb, or raise the limit: --max-pixels, or the maxPixels decode option)`,
    );
  }
}

/**
 * Allocates the RGBA output. The size has passed checkPixels; a limit raised past what this
 * process can hold still ends in a BAD_INPUT that names the size, not a RangeError.
 */
export function allocRgba(source: string, width: number, height: number, pool?: RgbaPool): Uint8Array {
  const bytes = width * height * 4;
  try {
    return pool ? pool.take(bytes) : new Uint8Array(bytes);
  } catch (e) {
    return bad(source, `image is ${width}×${height}: its ${formatCount(bytes)} bytes of RGBA pixels cannot be allocated (${(e as Error).message}); lower --max-pixels or use a smaller image`);
  }
}
