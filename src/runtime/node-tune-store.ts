import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { READ_LIMITS, readRegularFileSync } from './node-read-file.js';
import { writeFileAtomicallySync } from './node-write-file.js';
import type { TuneStore } from './tuning.js';

/** Default place of the Node tuning cache: $WEBVIT_CACHE_DIR, else $XDG_CACHE_HOME/webvit, else ~/.cache/webvit. */
export function defaultTuneCachePath(): string {
  const dir = process.env.WEBVIT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webvit');
  return join(dir, 'tuning.json');
}

/**
 * A JSON file of tuning results; unreadable or corrupt files count as empty, write errors are
 * ignored. It is read and written like every webvit file (src/runtime/node-read-file.ts,
 * node-write-file.ts): a FIFO or device in its place is neither read (which could block or never
 * end) nor replaced, and a write is atomic, so two processes tuning at once never leave a torn file.
 */
export function fileTuneStore(path = defaultTuneCachePath()): TuneStore {
  let data: Record<string, string> = {};
  try {
    const parsed = JSON.parse(new TextDecoder().decode(readRegularFileSync(path, { code: 'IO', limit: READ_LIMITS.json })));
    if (parsed && typeof parsed === 'object') data = parsed;
  } catch {
    data = {};
  }
  return {
    get: (k) => (typeof data[k] === 'string' ? data[k] : undefined),
    set: (k, v) => {
      data[k] = v;
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileAtomicallySync(path, JSON.stringify(data, null, 1));
      } catch {
        // A read-only home is not an error: the result is simply not remembered.
      }
    },
  };
}
