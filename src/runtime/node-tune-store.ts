import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { errnoWhy, READ_LIMITS, readRegularFileSync, wasRead } from './node-read-file.js';
import { writeFileAtomicallySync } from './node-write-file.js';
import { checkOptionKeys, clip, WebvitError } from './errors.js';
import type { TuneStore } from './tuning.js';

/** Default place of the Node tuning cache: $WEBVIT_CACHE_DIR, else $XDG_CACHE_HOME/webvit, else ~/.cache/webvit. */
export function defaultTuneCachePath(): string {
  const dir = process.env.WEBVIT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webvit');
  return join(dir, 'tuning.json');
}

/** Why the text of an existing tuning.json is not a webvit tuning cache, or undefined if it is. */
function notACache(text: string): string | undefined {
  if (text.trim() === '') return undefined; // an empty file holds nothing to lose
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'it is not JSON';
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return 'it is JSON but not an object';
  if (!Object.values(parsed).every((v) => typeof v === 'string')) return 'it is a JSON object whose values are not all strings';
  return undefined;
}

export interface FileTuneStoreOptions {
  /** Called once, with a one-line message, when results are not saved (default: process.emitWarning). */
  warn?: (message: string) => void;
}

/**
 * A JSON file of tuning results; an unreadable or missing file counts as empty, write errors are
 * ignored. It is read and written like every webvit file (src/runtime/node-read-file.ts,
 * node-write-file.ts): a FIFO or device in its place is neither read (which could block or never
 * end) nor replaced, a symlink in its place is not followed, and a write is atomic, so two
 * processes tuning at once never leave a torn file. It never replaces a file that is not a tuning
 * cache (not JSON, or not an object of strings: someone else's tuning.json, or a model copied
 * there) nor one this process has read as an input (wasRead): it says so once and keeps the
 * results in memory.
 */
export function fileTuneStore(path = defaultTuneCachePath(), options: FileTuneStoreOptions = {}): TuneStore {
  if (typeof path !== 'string' || path === '') throw new WebvitError('BAD_ARGUMENT', `fileTuneStore: path must be a file path (a string), got ${path === null ? 'null' : typeof path}`);
  checkOptionKeys(options, ['warn'], 'fileTuneStore');
  if (options.warn !== undefined && typeof options.warn !== 'function') throw new WebvitError('BAD_ARGUMENT', 'fileTuneStore: options.warn must be a function');
  const warn = options.warn ?? ((m: string) => process.emitWarning(m, 'WebvitWarning'));
  let data: Record<string, string> = {};
  let foreign: string | undefined;
  try {
    const text = new TextDecoder().decode(readRegularFileSync(path, { code: 'IO', limit: READ_LIMITS.json, record: false }));
    foreign = notACache(text);
    if (!foreign && text.trim() !== '') data = JSON.parse(text);
  } catch {
    data = {};
    // Not a regular file, or above the limit: the writer refuses it too (silently, as any write error).
    const st = orUndefined(() => statSync(path));
    if (st?.isFile() && st.size > READ_LIMITS.json) foreign = `it is ${st.size} bytes, larger than any tuning cache`;
  }
  let warned = false;
  const keep = (why: string) => {
    // EEXIST/ENOTDIR: a file where the cache's folder should be (WEBVIT_CACHE_DIR names a file).
    const folder = /^cannot write it: (EEXIST|ENOTDIR)/.test(why);
    if (!warned) warn(`${path}: tuning results are not saved (${why}); ${folder ? `${dirname(path)} must be a folder: set WEBVIT_CACHE_DIR to one` : 'move the file away or set WEBVIT_CACHE_DIR to another folder'}`);
    warned = true;
  };
  return {
    get: (k) => (Object.hasOwn(data, k) && typeof data[k] === 'string' ? data[k] : undefined),
    set: (k, v) => {
      data[k] = v;
      if (foreign) return keep(`it is not a webvit tuning cache: ${foreign}; it is left as it is`);
      const st = orUndefined(() => statSync(path));
      if (st && wasRead(st)) return keep('it is a file this command reads, which must not be overwritten');
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileAtomicallySync(path, JSON.stringify(data, null, 1), { follow: false });
      } catch (e) {
        // Not an error (the run goes on; the results are only not remembered), but said once: a
        // refusal (a symlink, FIFO or device as tuning.json) in the writer's words, an errno (a
        // read-only home, WEBVIT_CACHE_DIR a file or a device) by its code.
        if (warned) return;
        if (e instanceof WebvitError && e.cause === undefined) {
          warned = true;
          warn(`${e.message.replace(/ \(nothing was written\)$/, '')}; tuning results are not saved`);
        } else {
          // The writer's IO error carries the errno (a full disk: ENOSPC) as its cause.
          const errno = (e as NodeJS.ErrnoException).code === 'IO' ? ((e as Error).cause as NodeJS.ErrnoException | undefined) : (e as NodeJS.ErrnoException);
          keep(`cannot write it: ${errno?.code && errno.code !== 'IO' ? errnoWhy(errno) : clip((e as Error)?.message ?? String(e), 200)}`);
        }
      }
    },
  };
}

function orUndefined<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
