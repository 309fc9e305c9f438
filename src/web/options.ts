import { checkOptionKeys, clip, mustBe, WebvitError } from '../errors.js';
import { why } from './sources.js';
import { modelSourceKind } from '../hub/source.js';
import type { ClassifierOptions, ClassifyOptions } from './types.js';
import { parseIntegrity } from './weights.js';

const bad = (message: string, cause?: unknown) => new WebvitError('BAD_ARGUMENT', message, { cause });

/** Every option createImageClassifier reads: `satisfies` fails the build when ClassifierOptions gains one not listed. */
const OPTIONS = { model: 0, device: 0, onProgress: 0, worker: 0, integrity: 0, cache: 0, maxBatch: 0, tune: 0, fetch: 0, caches: 0, signal: 0, idleTimeoutMs: 0, revision: 0, hubUrl: 0, token: 0, dtype: 0 } satisfies Record<keyof ClassifierOptions, 0>;

/**
 * The options read once each into a plain object, before anything else looks at them: a getter
 * (or a Proxy trap) that throws is a BAD_ARGUMENT naming the option, and no later read can see
 * another value than the one checked.
 */
export function readOptions(o: ClassifierOptions): ClassifierOptions {
  checkOptionKeys(o, Object.keys(OPTIONS), 'createImageClassifier');
  const r: Record<string, unknown> = {};
  for (const k in OPTIONS) {
    try {
      r[k] = o[k as keyof ClassifierOptions];
    } catch (e) {
      throw bad(`options.${k} could not be read (${clip(why(e))})`, e);
    }
  }
  return r as unknown as ClassifierOptions;
}

/**
 * onProgress with its errors kept out of loading: a progress display that throws is the app's
 * bug, reported once on the console, and the model still loads, on the page and in the worker
 * alike (there the callback runs on a message from the worker, where no throw could reach
 * createImageClassifier's promise without cancelling work already done).
 */
export function isolated(f: NonNullable<ClassifierOptions['onProgress']>): NonNullable<ClassifierOptions['onProgress']> {
  let told = false;
  const report = (err: unknown) => {
    if (!told) console.error('webvit: onProgress threw', err);
    told = true;
  };
  return (e) => {
    try {
      // An async callback's rejection is reported the same way, never left unhandled.
      const r: unknown = f(e);
      if (r instanceof Promise) r.catch(report);
    } catch (err) {
      report(err);
    }
  };
}

const MAX_BATCH_LIMIT = 256;

/** The options createImageClassifier checks, each named when it is wrong, in both modes (the worker checks them again: Engine.create). */
export function checkOptions(o: ClassifierOptions): void {
  if (o.model === undefined || o.model === null) throw bad('createImageClassifier: `model` is missing (a URL of a webvit .safetensors file, its bytes, or a Response)');
  const b = o.maxBatch;
  if (b !== undefined && (!Number.isInteger(b) || b < 1 || b > MAX_BATCH_LIMIT)) throw mustBe('maxBatch', `a whole number from 1 to ${MAX_BATCH_LIMIT}`, b);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw mustBe('onProgress', 'a function', o.onProgress);
  const sig = o.signal;
  if (sig !== undefined) {
    try {
      if (typeof sig.addEventListener != 'function') throw 0;
      void sig.aborted; // a Proxy of a signal throws here (Illegal invocation), not at the first check
    } catch {
      throw bad('signal must be an AbortSignal');
    }
  }
  const t = o.idleTimeoutMs;
  if (t !== undefined && !(Number.isInteger(t) && t >= 0 && t < 2 ** 31)) throw mustBe('idleTimeoutMs', 'whole milliseconds from 0 (none) to 2147483647', t);
  const { model: m, tune } = o;
  const buffer = m instanceof ArrayBuffer ? m : ArrayBuffer.isView(m) ? m.buffer : undefined;
  if (buffer) {
    try {
      new Uint8Array(buffer, 0, 0);
    } catch {
      throw bad('model: the ArrayBuffer is detached (transferred?)');
    }
  }
  if (typeof Response !== 'undefined' && m instanceof Response && (m.bodyUsed || m.body?.locked)) {
    throw bad('model: the Response was already read');
  }
  if (o.integrity !== undefined) parseIntegrity(o.integrity);
  if ((o.revision ?? o.hubUrl ?? o.token ?? o.dtype) !== undefined && !isHubModel(o)) throw bad('revision, hubUrl, token and dtype are for a model given by Hub id');
  if (o.caches !== undefined && typeof o.caches?.open !== 'function') throw mustBe('caches', 'a CacheStorage', o.caches);
  if (o.cache !== undefined && o.cache !== false && typeof o.cache != 'string') throw mustBe('cache', 'a cache name (string) or false', o.cache);
  if (o.fetch !== undefined && typeof o.fetch !== 'function') throw mustBe('fetch', 'a function', o.fetch);
  if (tune !== undefined && typeof tune !== 'boolean' && typeof tune?.get !== 'function') throw mustBe('tune', 'true, false or a TuneStore', tune);
}

/** Whether the model is given by Hugging Face Hub id (checked in full, with the Hub options, by the Hub loader: src/web/hub.ts). */
export const isHubModel = (o: Pick<ClassifierOptions, 'model'>): boolean => modelSourceKind(o.model) == 'id';

/**
 * A call's options, read once: absent, or an object of only the keys `where` takes (classify's
 * and profile's topK; none for embed and explain); not an object (null), a BAD_ARGUMENT.
 */
export function topKOf(options: ClassifyOptions | undefined, where: string, keys = ['topK']): number | undefined {
  if (options === undefined) return undefined;
  try {
    checkOptionKeys(options, keys, where);
    return keys.length ? options.topK : undefined;
  } catch (e) {
    throw e instanceof WebvitError ? e : bad(`options${keys.length ? '.topK' : ''} could not be read (${clip(why(e))})`, e);
  }
}
