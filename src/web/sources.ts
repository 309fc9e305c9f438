import { clip, describeSource, valueText, WebvitError, type WebvitErrorCode } from '../errors.js';

export { describeSource, valueText };
import type { RgbaImage } from '../image/preprocessor.js';
import type { ImageSource, RgbaPixels } from './types.js';

/** A source copyExternalImageToTexture takes, with its size (uploaded by TextureRows, ./texture_rows.ts). */
export interface ExternalPixels {
  source: GPUCopyExternalImageSource;
  width: number;
  height: number;
}

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

/**
 * A browser error's message without Chromium's "Failed to execute 'f' on 'Window': " ('WorkerGlobalScope'
 * in a worker), so that the same failure reads the same on the page and in the worker.
 */
export const why = (e: unknown): string => {
  try {
    return String((e as Error)?.message ?? e).replace(/^Failed to execute '[^']*' on '[^']*': /, '');
  } catch {
    return 'a value that cannot be shown as text'; // a thrown object whose message or toString throws
  }
};

/** `e` if it is a WebvitError, else one of `code` keeping its name and message: all the app ever gets. */
export function asWebvitError(e: unknown, code: WebvitErrorCode = 'GPU'): WebvitError {
  try {
    if (e instanceof WebvitError) return e;
    return new WebvitError(code, `${String((e as Error)?.name ?? 'Error')}: ${why(e)}`, { cause: e });
  } catch {
    return new WebvitError(code, why(e), { cause: e }); // a Proxy whose traps throw
  }
}

/** `u` made absolute against the page; not a URL: a `code` error naming `what`. */
export function absoluteUrl(u: string | URL, what: string, code: WebvitErrorCode): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(u, base);
  } catch {
    throw new WebvitError(code, `${what} ${JSON.stringify(clip(String(u)))} is not a valid URL${base ? '' : ' (relative URLs need a page to resolve against)'}`);
  }
  // Schemes fetch() can never download from: refused here, naming the scheme, rather than as a
  // failed download. Others pass (an app's own scheme: app://, tauri://, capacitor://).
  if (NOT_FETCHED.has(url.protocol)) {
    throw new WebvitError(code, `${what} ${JSON.stringify(clip(url.href, 120))} uses the ${url.protocol} scheme, which cannot be downloaded; give an http(s), data: or blob: URL`);
  }
  return url.href;
}

const NOT_FETCHED = new Set(['javascript:', 'vbscript:', 'ftp:', 'mailto:', 'tel:', 'sms:', 'ws:', 'wss:', 'about:', 'view-source:', 'news:', 'irc:', 'magnet:']);

/** A tainted source: WebGPU may not read what the page may not (a SecurityError on copy, a DataCloneError on transfer). */
export const crossOrigin = (name: string, cause: unknown): WebvitError =>
  new WebvitError('BAD_INPUT', `${name} is cross-origin and its server does not allow reading its pixels: set crossOrigin="anonymous" on the <img> it comes from and serve it with CORS headers (Access-Control-Allow-Origin), or serve it from this page's origin`, { cause });

/** How errors name source `i` of a call with `n`. */
/** `call` ("embed: "): a message from embed() names it ("image 1: undefined is not an image" read as classify's). */
export const nameOf = (i: number, n: number, call = ''): string => call + (n === 1 ? 'the image' : `image ${i}`);

/**
 * The sources of a call as they are when it is made (on the page and for the worker): calls queue,
 * and a call that read the caller's ImageData when it ran would see whatever was written there
 * since (or a buffer transferred away), so pixels in memory are checked and copied now. DOM
 * images, bitmaps and frames are read when the call runs.
 */
/** explain() and profile() take one image: an array is refused, saying so (it was "cannot classify Array"). */
export const notOne = (): Promise<never> => Promise.reject(new WebvitError('BAD_INPUT', 'explain() and profile() take one image; call them once per image'));

/** Array.isArray of a caller's value, which a revoked Proxy makes throw. */
export function isList(x: unknown): x is ImageSource[] {
  try {
    return Array.isArray(x);
  } catch (e) {
    throw new WebvitError('BAD_INPUT', `the image could not be read (${why(e)})`);
  }
}

export function taken(list: ImageSource[]): ImageSource[] {
  try {
    return [...list].map((s, i, all) => (isRgbaPixels(s) ? checkPixels(s, nameOf(i, all.length), true) : s));
  } catch (e) {
    // A getter or Proxy of the caller's that throws while its images are looked at.
    throw e instanceof WebvitError ? e : new WebvitError('BAD_INPUT', `an image could not be read (${why(e)})`);
  }
}

function checkPixels(p: RgbaPixels, name: string, copy?: boolean): RgbaPixels {
  const { data, width, height } = p;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new WebvitError('BAD_INPUT', `${name}: size ${width}×${height} is not a positive whole number of pixels`);
  if (data.byteLength !== 4 * width * height) {
    throw new WebvitError('BAD_INPUT', `${name}: has ${data.byteLength} bytes of data, expected ${width}×${height}×4 (8-bit RGBA, as ImageData holds)${data.byteLength ? '' : '; was its buffer transferred (postMessage)?'}`);
  }
  return copy ? { data: data.slice(), width, height } : p;
}

const isDom = (x: unknown): boolean => isImageBitmap(x) || isVideoFrame(x) || isCanvas(x) || isOffscreenCanvas(x) || isVideoElement(x) || isImageElement(x);

/** What messages call a source. */
const whatOf = (x: unknown): string =>
  isImageElement(x) ? `the <img> ${clip((x as HTMLImageElement).currentSrc || (x as HTMLImageElement).src || '(no src)')}` : isBlob(x) ? `the ${(x as Blob).type || 'untyped'} Blob of ${(x as Blob).size} bytes` : `the ${describeSource(x)}`;

/**
 * Checks a DOM source before it is read, and decodes an <img>. The page's path (pixelsOf) and the
 * worker's (wireSource) both start here, so a bad source gets the same error either way.
 */
async function checkDom(x: unknown, name: string, wait: Wait): Promise<void> {
  const w = (x as ImageBitmap).width;
  const h = (x as ImageBitmap).height;
  if (isImageBitmap(x) && !w && !h) throw new WebvitError('BAD_INPUT', `${name}: the ImageBitmap is closed or detached (transferred to a worker?)`);
  if (isVideoFrame(x) && (x as VideoFrame).format === null && !(x as VideoFrame).codedWidth) throw new WebvitError('BAD_INPUT', `${name}: the VideoFrame is closed`);
  if (isVideoElement(x) && (x as HTMLVideoElement).readyState < 2 /* HAVE_CURRENT_DATA */) {
    throw new WebvitError('BAD_INPUT', `${name}: the video has no frame yet (readyState ${(x as HTMLVideoElement).readyState}); wait for its 'loadeddata' event`);
  }
  if (isVideoElement(x) && !((x as HTMLVideoElement).videoWidth >= 1 && (x as HTMLVideoElement).videoHeight >= 1)) {
    throw new WebvitError('BAD_INPUT', `${name}: the video has no video track (${(x as HTMLVideoElement).videoWidth}×${(x as HTMLVideoElement).videoHeight}); classify a video that has a picture`);
  }
  if ((isCanvas(x) || isOffscreenCanvas(x)) && !(w >= 1 && h >= 1)) {
    throw new WebvitError('BAD_INPUT', `${name}: ${whatOf(x)} is ${w}×${h}: no pixels to read${!w && !h && isOffscreenCanvas(x) ? ' (transferred to a worker?)' : ''}`);
  }
  if (isImageElement(x)) {
    await loaded(x as HTMLImageElement, name, wait);
    try {
      await (x as HTMLImageElement).decode();
    } catch (e) {
      throw new WebvitError('BAD_INPUT', `${name}: ${whatOf(x)} could not be loaded or decoded`, { cause: e });
    }
  }
}

/** How long a call waits for an <img> still loading: `ms` (the idle timeout; 0: no limit), and not past `signal` (dispose). */
export interface Wait {
  ms?: number;
  signal?: AbortSignal;
}

/** dispose() lets the calls made before it finish, but gives up their downloads and <img> loads after this long. */
const DISPOSE_GRACE_MS = 2000;

/** Waits for `calls` (those made before a dispose()); past the grace, `stop` ends what they wait for with DISPOSED. */
export async function finish(calls: Promise<unknown>, stop: AbortController): Promise<void> {
  const t = setTimeout(() => stop.abort(new WebvitError('DISPOSED', 'the classifier was disposed; create a new one')), DISPOSE_GRACE_MS);
  try {
    await calls;
  } finally {
    clearTimeout(t);
  }
}

/**
 * Waits for an <img> still loading (decode() would wait for ever on a stalled one, and on a lazy
 * one off-screen, which never loads): a lazy one is refused at once, a stalled one after `ms`.
 */
async function loaded(img: HTMLImageElement, name: string, { ms = 0, signal }: Wait): Promise<void> {
  if (img.complete) return;
  // Lazy and off-screen: it may never load (BAD_INPUT); loading but stalled: a download that
  // received nothing for `ms` (NETWORK, as an image given by URL).
  const refused = (code: 'BAD_INPUT' | 'NETWORK') => new WebvitError(code, `${name}: ${clip(whatOf(img))} is not loaded (${code == 'NETWORK' ? `stalled for ${ms} ms` : 'loading=lazy off-screen'}): wait for its load event or pass an ImageBitmap`);
  if (img.loading === 'lazy') throw refused('BAD_INPUT');
  await new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = (e?: unknown) => {
      clearTimeout(timer);
      img.removeEventListener('load', ok);
      img.removeEventListener('error', ok);
      signal?.removeEventListener('abort', stop);
      if (e) reject(e);
      else resolve();
    };
    // A failed load settles too: decode() then says it could not be loaded.
    const ok = () => end();
    const stop = () => end(signal!.reason);
    img.addEventListener('load', ok);
    img.addEventListener('error', ok);
    signal?.addEventListener('abort', stop);
    if (ms > 0) timer = setTimeout(() => end(refused('NETWORK')), ms);
    if (signal?.aborted) stop();
  });
}

const SUPPORTED = 'an HTMLImageElement, ImageBitmap, ImageData, HTMLCanvasElement, OffscreenCanvas, HTMLVideoElement, VideoFrame, Blob/File, URL or GPUTexture';

const unsupported = (x: unknown, name: string): WebvitError => new WebvitError('BAD_INPUT', `${name}: ${almostPixels(x) ?? `${describeSource(x)} is not an image`}; pass ${SUPPORTED}`);

/**
 * What is wrong with an object that has some of ImageData's fields (`data`, `width`, `height`)
 * but is not pixels as webvit takes them: the field, rather than "cannot classify Object".
 */
function almostPixels(x: unknown): string | undefined {
  try {
    if (typeof x !== 'object' || x === null || !('data' in x || 'width' in x || 'height' in x)) return undefined;
    const { data, width, height } = x as Record<string, unknown>;
    const wrong: string[] = [];
    if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) wrong.push(`data must be a Uint8ClampedArray or Uint8Array of 8-bit RGBA, got ${valueText(data)}`);
    for (const [k, v] of [['width', width], ['height', height]] as const) if (typeof v !== 'number') wrong.push(`${k} must be a number of pixels, got ${valueText(v)}`);
    return wrong.length ? `pixels in memory (as ImageData): ${wrong.join('; ')}` : undefined;
  } catch {
    return undefined; // a getter or Proxy that throws: described by its kind
  }
}

/**
 * A source as the worker takes it (worker mode, on the page's thread): pixels in memory (already
 * taken), Blobs and absolute URLs as they are, a clone of a VideoFrame, and every other DOM
 * source an ImageBitmap made for the call. `made` receives what was made here, to be transferred.
 */
export async function wireSource(x: ImageSource, name: string, made: Transferable[], wait: Wait = {}): Promise<ImageBitmap | VideoFrame | RgbaPixels | Blob | string> {
  if (isRgbaPixels(x) || isBlob(x)) return x as RgbaPixels | Blob;
  if (typeof x === 'string' || x instanceof URL) return absoluteUrl(x, `${name}: URL`, 'BAD_INPUT');
  if (isTexture(x)) throw new WebvitError('BAD_INPUT', `${name}: a GPUTexture cannot be sent to the worker (it lives on the page's device); pass an ImageBitmap, or use the classifier without worker`);
  if (!isDom(x)) throw unsupported(x, name);
  await checkDom(x, name, wait);
  let w: ImageBitmap | VideoFrame;
  if (isVideoFrame(x)) made.push((w = (x as VideoFrame).clone()));
  else {
    const b = await decodeBitmap(x as ImageBitmapSource, name);
    // A tainted bitmap cannot be transferred: moved to itself here, it says so naming its image.
    try {
      w = structuredClone(b, { transfer: [b] });
    } catch (e) {
      b.close();
      throw crossOrigin(name, e);
    }
    made.push(w);
  }
  return w;
}

/** Turns `source` into Pixels; `name` ("image 2") goes into errors; `get` downloads a URL source; `wait` bounds an <img>'s load. */
export async function pixelsOf(source: ImageSource, name: string, get: (url: string, name: string) => Promise<Uint8Array>, wait: Wait = {}, sized?: (width: number, height: number) => void): Promise<Pixels> {
  // A file's size from its header, refused (by `sized`) before a decode that may need gigabytes.
  const check = (b: Uint8Array) => {
    const s = headerSize(b);
    if (s) sized?.(s.width, s.height);
  };
  if (isRgbaPixels(source)) {
    const { data, width, height } = checkPixels(source, name);
    return { kind: 'memory', image: { width, height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } };
  }
  if (isTexture(source)) return { kind: 'texture', texture: source };
  if (isDom(source)) {
    await checkDom(source, name, wait);
    const x = source as HTMLCanvasElement;
    // Re-decoded as the file's bytes: an <img> draws colour-managed, PIL reads the raw values.
    if (isImageElement(x)) return fromBitmap(await decodeBitmap(x, name));
    const size = isVideoFrame(x) ? { width: (x as unknown as VideoFrame).displayWidth, height: (x as unknown as VideoFrame).displayHeight } : isVideoElement(x) ? { width: (x as unknown as HTMLVideoElement).videoWidth, height: (x as unknown as HTMLVideoElement).videoHeight } : x;
    // What the direct texture copy refuses, an ImageBitmap of it (as the worker gets) may give: a
    // VideoFrame or <video> on some WebGPU implementations (Chromium on SwiftShader), a canvas
    // without a rendering context (blank, and createImageBitmap reads it so) or whose control went
    // to an OffscreenCanvas.
    return { kind: 'external', source: x, width: size.width, height: size.height, fallback: isImageBitmap(x) ? undefined : () => decodeBitmap(x, name) };
  }
  if (isBlob(source)) {
    check(new Uint8Array(await (source as Blob).slice(0, 24).arrayBuffer()));
    return fromBitmap(await decodeBitmap(source as Blob, name));
  }
  if (typeof source === 'string' || source instanceof URL) {
    const url = absoluteUrl(source, `${name}: URL`, 'BAD_INPUT');
    const bytes = await get(url, name);
    check(bytes);
    return fromBitmap(await decodeBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), name, clip(url)));
  }
  throw unsupported(source, name);
}

function fromBitmap(b: ImageBitmap): Pixels {
  return { kind: 'external', source: b, width: b.width, height: b.height, close: () => b.close() };
}

async function decodeBitmap(x: ImageBitmapSource, name: string, what = whatOf(x)): Promise<ImageBitmap> {
  if (typeof createImageBitmap !== 'function') throw new WebvitError('BAD_INPUT', `${name}: decoding ${what} needs createImageBitmap, which this environment lacks; pass ImageData`);
  try {
    return await createImageBitmap(x, RAW_BITMAP);
  } catch (e) {
    if ((e as Error)?.name === 'SecurityError') throw crossOrigin(name, e);
    const hint = isBlob(x) ? '; the browser decodes PNG, JPEG, WebP, GIF, AVIF' : isCanvas(x) || isOffscreenCanvas(x) ? "; an OffscreenCanvas has no pixels until it has a context (getContext('2d'), …)" : '';
    throw new WebvitError('BAD_INPUT', `${name}: ${what} could not be read as an image (${why(e)})${hint}`, { cause: e });
  }
}

/**
 * Width and height from a PNG's IHDR (its first 24 bytes), undefined for other formats. (A JPEG's
 * SOF marker can follow 64 KiB segments: not read here, to keep the bundle within its budget.)
 */
export function headerSize(b: Uint8Array): { width: number; height: number } | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return b.length >= 24 && v.getUint32(12) === 0x49484452 ? { width: v.getUint32(16), height: v.getUint32(20) } : undefined;
}
