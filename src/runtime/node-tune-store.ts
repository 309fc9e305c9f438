import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneStore } from './tuning.js';

/** Default place of the Node tuning cache: $WEBVIT_CACHE_DIR, else $XDG_CACHE_HOME/webvit, else ~/.cache/webvit. */
export function defaultTuneCachePath(): string {
  const dir = process.env.WEBVIT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webvit');
  return join(dir, 'tuning.json');
}

/** A JSON file of tuning results; unreadable or corrupt files count as empty, write errors are ignored. */
export function fileTuneStore(path = defaultTuneCachePath()): TuneStore {
  let data: Record<string, string> = {};
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8'));
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
        writeFileSync(`${path}.tmp`, JSON.stringify(data, null, 1));
        renameSync(`${path}.tmp`, path);
      } catch {
        // A read-only home is not an error: the result is simply not remembered.
      }
    },
  };
}
