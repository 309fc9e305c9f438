import { WebvitError } from '../errors.js';
import type { RgbaImage } from '../image/preprocessor.js';
import type { ExternalPixels } from './texture_rows.js';
import type { ImageSource, RgbaPixels } from './types.js';

/**
 * A source, ready for the GPU: pixels in memory (ImageData), a DOM image for
 * copyExternalImageToTexture, or a texture already on the GPU. `close` frees what webvit made
 * to get there (an ImageBitmap decoded from a Blob); the caller's own objects are never closed.
 */
export type Pixels = ({ kind: 'memory'; image: RgbaImage } | ({ kind: 'external'; fallback?: () => Promise<ImageBitmap> } & ExternalPixels) | { kind: 'texture'; texture: GPUTexture }) & {
  close?: () => void;
};

/** How createImageBitmap must decode: the file's bytes, unpremultiplied, no colour conversion (as PIL reads them). */
export const RAW_BITMAP: ImageBitmapOptions = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };

const has = (name: string): ((x: unknown) => boolean) => {
  const ctor = (globalThis as Record<string, unknown>)[name] as (abstract new (...a: never[]) => unknown) | undefined;
  return (x) => typeof ctor === 'function' && x instanceof ctor;
};
export const isImageBitmap = has('ImageBitmap');
export const isVideoFrame = has('VideoFrame');
export const isBlob = has('Blob');
const isImageElement = has('HTMLImageElement');
const isVideoElement = has('HTMLVideoElement');
const isCanvas = has('HTMLCanvasElement');
const isOffscreenCanvas = has('OffscreenCanvas');

/** An object with 8-bit RGBA `data` and its size (ImageData, or a plain object in Node). */
export function isRgbaPixels(x: unknown): x is RgbaPixels {
  const p = x as RgbaPixels;
  return typeof p === 'object' && p !== null && (p.data instanceof Uint8ClampedArray || p.data instanceof Uint8Array) && typeof p.width === 'number' && typeof p.height === 'number';
}

/** A GPUTexture (duck-typed: Dawn's and the browser's classes differ). */
export function isTexture(x: unknown): x is GPUTexture {
  const t = x as GPUTexture;
  return typeof t === 'object' && t !== null && typeof t.createView === 'function' && typeof t.format === 'string' && typeof t.width === 'number';
}

export function describeSource(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return Object.prototype.toString.call(x).slice(8, -1);
}

const SUPPORTED = 'an HTMLImageElement, ImageBitmap, ImageData, HTMLCanvasElement, OffscreenCanvas, HTMLVideoElement, VideoFrame, Blob/File, URL or GPUTexture';

/** Turns `source` into Pixels; `name` ("image 2") goes into errors. */
export async function pixelsOf(source: ImageSource, name: string, fetchImpl: typeof fetch | undefined): Promise<Pixels> {
  if (isRgbaPixels(source)) {
    const { data, width, height } = source;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new WebvitError('BAD_INPUT', `${name}: size ${width}×${height} is not a positive whole number of pixels`);
    if (data.byteLength !== 4 * width * height) throw new WebvitError('BAD_INPUT', `${name}: has ${data.byteLength} bytes of data, expected ${width}×${height}×4 (8-bit RGBA, as ImageData holds)`);
    return { kind: 'memory', image: { width, height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } };
  }
  if (isTexture(source)) return { kind: 'texture', texture: source };
  if (isImageBitmap(source)) {
    const b = source as ImageBitmap;
    if (b.width === 0 && b.height === 0) throw new WebvitError('BAD_INPUT', `${name}: the ImageBitmap is closed or detached (transferred to a worker?)`);
    return { kind: 'external', source: b, width: b.width, height: b.height };
  }
  if (isVideoFrame(source)) {
    const f = source as VideoFrame;
    if (f.format === null && f.codedWidth === 0) throw new WebvitError('BAD_INPUT', `${name}: the VideoFrame is closed`);
    // Some WebGPU implementations (Chromium on SwiftShader) cannot copy a VideoFrame or a <video>
    // straight into a texture; an ImageBitmap of it is the way round.
    return { kind: 'external', source: f, width: f.displayWidth, height: f.displayHeight, fallback: () => decodeBitmap(f, name, 'the VideoFrame') };
  }
  if (isCanvas(source) || isOffscreenCanvas(source)) {
    const c = source as HTMLCanvasElement | OffscreenCanvas;
    return { kind: 'external', source: c, width: c.width, height: c.height };
  }
  if (isVideoElement(source)) {
    const v = source as HTMLVideoElement;
    if (v.readyState < 2 /* HAVE_CURRENT_DATA */) throw new WebvitError('BAD_INPUT', `${name}: the video has no frame yet (readyState ${v.readyState}); wait for its 'loadeddata' event`);
    return { kind: 'external', source: v, width: v.videoWidth, height: v.videoHeight, fallback: () => decodeBitmap(v, name, 'the video frame') };
  }
  if (isImageElement(source)) {
    const img = source as HTMLImageElement;
    try {
      await img.decode();
    } catch (e) {
      throw new WebvitError('BAD_INPUT', `${name}: the <img> (${img.currentSrc || img.src || 'no src'}) could not be loaded or decoded`, { cause: e });
    }
    // Re-decoded as the file's bytes: an <img> draws colour-managed, PIL reads the raw values.
    return fromBitmap(await decodeBitmap(img, name, `the <img> ${img.currentSrc || img.src}`));
  }
  if (isBlob(source)) return fromBitmap(await decodeBitmap(source as Blob, name, `the ${(source as Blob).type || 'untyped'} Blob of ${(source as Blob).size} bytes`));
  if (typeof source === 'string' || source instanceof URL) {
    const url = new URL(source, (globalThis as { location?: { href: string } }).location?.href).href;
    const f = fetchImpl ?? globalThis.fetch;
    let r: Response;
    try {
      r = await f(url);
    } catch (e) {
      throw new WebvitError('NETWORK', `${name}: could not fetch ${url}: ${(e as Error).message ?? e} (offline, or the server does not allow this origin: CORS)`, { cause: e });
    }
    if (!r.ok) throw new WebvitError('NETWORK', `${name}: could not fetch ${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
    return fromBitmap(await decodeBitmap(await r.blob(), name, url));
  }
  throw new WebvitError('BAD_INPUT', `${name}: cannot classify ${describeSource(source)}; pass ${SUPPORTED}`);
}

function fromBitmap(b: ImageBitmap): Pixels {
  return { kind: 'external', source: b, width: b.width, height: b.height, close: () => b.close() };
}

async function decodeBitmap(x: ImageBitmapSource, name: string, what: string): Promise<ImageBitmap> {
  if (typeof createImageBitmap !== 'function') throw new WebvitError('BAD_INPUT', `${name}: decoding ${what} needs createImageBitmap, which this environment lacks; pass ImageData`);
  try {
    return await createImageBitmap(x, RAW_BITMAP);
  } catch (e) {
    if ((e as Error)?.name === 'SecurityError') {
      throw new WebvitError('BAD_INPUT', `${name}: ${what} is cross-origin and its server does not allow reading its pixels: set crossOrigin="anonymous" on it and serve it with CORS headers`, { cause: e });
    }
    throw new WebvitError('BAD_INPUT', `${name}: ${what} could not be decoded as an image (${(e as Error).message ?? e}); the browser decodes PNG, JPEG, WebP, GIF, AVIF`, { cause: e });
  }
}
