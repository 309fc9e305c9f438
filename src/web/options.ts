import { clip, WebvitError } from '../errors.js';
import { describeSource, why } from './sources.js';
import type { ClassifierOptions, ClassifyOptions } from './types.js';
import { parseIntegrity } from './weights.js';

const bad = (message: string, cause?: unknown) => new WebvitError('BAD_ARGUMENT', message, { cause });
const must = (name: string, what: string, x: unknown) => bad(`${name} must be ${what}, got ${describeSource(x)}`);

/** Every option createImageClassifier reads: `satisfies` fails the build when ClassifierOptions gains one not listed. */
const OPTIONS = { model: 0, device: 0, onProgress: 0, worker: 0, integrity: 0, cache: 0, maxBatch: 0, tune: 0, fetch: 0, caches: 0, signal: 0, idleTimeoutMs: 0 } satisfies Record<keyof ClassifierOptions, 0>;

/**
 * The options read once each into a plain object, before anything else looks at them: a getter
 * (or a Proxy trap) that throws is a BAD_ARGUMENT naming the option, and no later read can see
 * another value than the one checked.
 */
export function readOptions(o: ClassifierOptions): ClassifierOptions {
  if (typeof o != 'object' || o === null) throw bad('createImageClassifier needs an options object: { model: url | ArrayBuffer | Response }');
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

/** The options besides those checkOptions sees to, each named when it is wrong (both modes: the worker checks again). */
export function checkMoreOptions(o: ClassifierOptions): void {
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
  if (o.caches !== undefined && typeof o.caches?.open !== 'function') throw must('caches', 'a CacheStorage', o.caches);
  if (o.cache !== undefined && o.cache !== false && typeof o.cache != 'string') throw must('cache', 'a cache name (string) or false', o.cache);
  if (o.fetch !== undefined && typeof o.fetch !== 'function') throw must('fetch', 'a function', o.fetch);
  if (tune !== undefined && typeof tune !== 'boolean' && typeof tune?.get !== 'function') throw must('tune', 'true, false or a TuneStore', tune);
}

/** A call's options (classify, profile): its topK, read once; not an object (null), a BAD_ARGUMENT. */
export function topKOf(options: ClassifyOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw must('options', 'an object', options);
  try {
    return options.topK;
  } catch (e) {
    throw bad(`options.topK could not be read (${clip(why(e))})`, e);
  }
}
