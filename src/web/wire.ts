import type { WebvitErrorCode } from '../errors.js';
import type { ClassifierInfo, ClassifierOptions, RgbaPixels, WebProgress } from './types.js';

/** Messages between the page (WorkerClassifier) and the worker (worker.ts). */

/** A source as it crosses to the worker: transferred bitmaps and frames, copied pixels, Blobs, URLs. */
export type WireSource = ImageBitmap | VideoFrame | RgbaPixels | Blob | string;

/** Options the worker can take (no device, no functions). */
export type WireOptions = Omit<ClassifierOptions, 'model' | 'device' | 'onProgress' | 'worker' | 'fetch' | 'caches' | 'tune' | 'signal'> & {
  model: string | ArrayBuffer;
  tune?: boolean;
  wantProgress: boolean;
  /** How a model read on the page (a Response) is named in messages: as the page names it. */
  modelName?: string;
};

/**
 * The page's first message is 'hello'; the worker answers with this. Raise it with any change to
 * Request or Reply, so a page and a worker script of different webvit builds refuse each other.
 */
export const WIRE_VERSION = 2;

/** The worker says it is alive this often (ms); the page gives it up after ALIVE_LOST_MS of silence while calls wait. */
export const ALIVE_MS = 2000;
export const ALIVE_LOST_MS = 30_000;

export type Request =
  | { id: number; type: 'hello' }
  | { id: number; type: 'create'; options: WireOptions }
  | { id: number; type: 'classify'; sources: WireSource[]; topK?: number }
  | { id: number; type: 'embed'; sources: WireSource[] }
  | { id: number; type: 'profile'; sources: WireSource[]; topK?: number }
  | { id: number; type: 'explain'; sources: WireSource[] }
  | { id: number; type: 'stats' }
  | { id: number; type: 'dispose' }
  /** The create's signal fired on the page (no reply). */
  | { type: 'abort' };

export type Reply =
  | { type: 'progress'; event: WebProgress }
  | { type: 'alive' }
  | { id: number; ok: true; value: unknown; info?: ClassifierInfo }
  | { id: number; ok: false; error: { code: WebvitErrorCode; message: string } };
