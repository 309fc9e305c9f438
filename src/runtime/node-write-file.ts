import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { lstat, open, realpath, rename, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebvitError } from './errors.js';

/**
 * The one way webvit writes a file in Node (convert's weights, explain's figures and JSON, bench
 * reports, the tuning cache): OUT is either what it was or the whole new file, and nothing but a
 * regular file is ever replaced.
 *
 * - OUT must be a regular file or not exist. A character or block device, FIFO, socket or
 *   directory is refused, naming the path and its kind: renaming over `/dev/null` would replace the
 *   device node with a file, and writing into a FIFO would block.
 * - A symlink is followed: the file it points to is replaced (its kind checked the same way) and
 *   the link stays a link, as `>` in a shell does. A dangling link is refused rather than guessed.
 * - The bytes go to `OUT.tmp-PID-RANDOM` in OUT's folder (O_EXCL, so never through a file someone
 *   else put there), which is fsynced, given the mode of the file it replaces, and renamed over
 *   OUT; the folder is then fsynced (best effort: not every file system allows it).
 * - On an error the temporary file is removed and a WebvitError('IO') names OUT and the error.
 *   On a terminating signal (TERMINATING_SIGNALS) while a temporary file exists, it is removed and,
 *   unless the program has its own handler for that signal, the process ends on the signal as it
 *   would have without webvit (a shell sees 130 for SIGINT ...). `process.exit()` mid-write
 *   removes it too.
 *
 * WEBVIT_TEST_PAUSE_WRITE=MS (for tests only): after the first half is written, print
 * "webvit: test pause ..." on stderr and wait MS milliseconds, so that a test can interrupt a write
 * that is certainly in progress.
 */

/**
 * Signals whose default action ends the process and that Node lets a program handle. Not here:
 * SIGUSR1 (Node starts its inspector; the process goes on and the write completes), SIGPIPE (Node
 * ignores it), SIGPROF (V8's profiler uses it), SIGXFSZ (a handler would replace a shell's
 * `trap '' XFSZ`, which turns an over-size write into EFBIG, an error cleaned up like any other),
 * and SIGKILL/SIGSTOP (cannot be handled).
 */
export const TERMINATING_SIGNALS = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU'] as const).filter(
  (s) => s in constants.signals,
);

/** The file operations the async writer uses; tests replace them to fail on purpose. */
export interface WriteIo {
  open: typeof open;
  rename: typeof rename;
}

const realIo: WriteIo = { open, rename };

/** Written per call to the file; small enough that a signal is handled between chunks. */
const CHUNK = 4 * 2 ** 20;

/** "a FIFO", "a character device", ...: what a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

// ---- temporary files in flight, and the signal handlers that remove them -------------------------

const inFlight = new Set<string>();
let listening = false;
let lingering: NodeJS.Immediate | undefined;

function removeTemps(): void {
  for (const tmp of inFlight) {
    try {
      unlinkSync(tmp);
    } catch {
      // not created yet, or already gone
    }
  }
  inFlight.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeTemps();
  // A program with its own handler for this signal decides what happens next (a write still under
  // way then fails at its rename, having no temporary file). Otherwise end as the signal's default
  // action would; exit 128 + signo should re-raising not end the process.
  if (process.listenerCount(signal) > 1) return;
  stopListening();
  process.kill(process.pid, signal);
  process.exit(128 + (constants.signals[signal] ?? 0));
}

function stopListening(): void {
  if (lingering) clearImmediate(lingering);
  lingering = undefined;
  if (!listening) return;
  listening = false;
  for (const s of TERMINATING_SIGNALS) process.off(s, onSignal);
  process.off('exit', removeTemps);
}

function track(tmp: string): void {
  inFlight.add(tmp);
  if (lingering) clearImmediate(lingering);
  lingering = undefined;
  if (listening) return;
  listening = true;
  for (const s of TERMINATING_SIGNALS) process.on(s, onSignal);
  process.on('exit', removeTemps);
}

/**
 * The handlers stay until the event loop has polled once more after the last write ended: a
 * signal that arrived during the write (a synchronous one cannot see it at all) is then handled,
 * by re-raising it. Removing the handler at once would drop such a signal silently.
 */
function untrack(tmp: string): void {
  inFlight.delete(tmp);
  if (inFlight.size || !listening || lingering) return;
  lingering = setImmediate(() => {
    lingering = setImmediate(stopListening).unref();
  }).unref();
}

// ---- the target ----------------------------------------------------------------------------------

interface Target {
  /** The path renamed over: OUT, or the file OUT links to. */
  path: string;
  /** Permission bits of the file replaced (undefined for a new file). */
  mode?: number;
}

const refuse = (out: string, why: string): never => {
  throw new WebvitError('IO', `${out}: ${why}; webvit writes its outputs only to regular files (nothing was written): choose a file path`);
};

/** Where OUT's bytes go, or a refusal: from lstat(OUT) and, for a symlink, stat and realpath. */
function target(out: string, l: Stats | undefined, resolved: () => string | undefined, st: () => Stats | undefined): Target {
  if (!l) return { path: out };
  if (l.isSymbolicLink()) {
    const real = resolved();
    const s = st();
    if (!real || !s) return refuse(out, 'is a symbolic link to a file that does not exist (a dangling link)');
    if (!s.isFile()) return refuse(out, `is a symbolic link to ${real}, which is ${fileKind(s)}`);
    return { path: real, mode: s.mode & 0o7777 };
  }
  if (!l.isFile()) return refuse(out, `is ${fileKind(l)}${l.isCharacterDevice() || l.isBlockDevice() ? ` (${l.rdev >> 8},${l.rdev & 0xff})` : ''}`);
  return { path: out, mode: l.mode & 0o7777 };
}

const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);
function orUndefinedSync<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

async function targetOf(out: string): Promise<Target> {
  const l = await orUndefined(lstat(out));
  const real = l?.isSymbolicLink() ? await orUndefined(realpath(out)) : undefined;
  const s = l?.isSymbolicLink() ? await orUndefined(stat(out)) : undefined;
  return target(out, l, () => real, () => s);
}

function targetOfSync(out: string): Target {
  return target(
    out,
    orUndefinedSync(() => lstatSync(out)),
    () => orUndefinedSync(() => realpathSync(out)),
    () => orUndefinedSync(() => statSync(out)),
  );
}

/** Just before the rename: the target must still be a regular file or absent (narrows a race). */
function stillReplaceable(out: string, t: Target, l: Stats | undefined): void {
  if (l && !l.isFile()) refuse(out, `${t.path === out ? '' : `links to ${t.path}, which `}became ${fileKind(l)} while being written`);
}

const tempName = (path: string) => join(dirname(path), `${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);

const ioError = (out: string, e: unknown): WebvitError =>
  e instanceof WebvitError
    ? e
    : new WebvitError('IO', `${out}: cannot write the output (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing was written, ${out} is as it was`, { cause: e });

/** Flushes the folder's entry for the renamed file; some file systems refuse, which is fine. */
function syncFolderSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
}

async function syncFolder(dir: string): Promise<void> {
  const fh = await orUndefined(open(dir, 'r'));
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close().catch(() => undefined);
}

// ---- the writers ---------------------------------------------------------------------------------

/** Writes `data` to `out` atomically (see the top of this file); rejects with a WebvitError('IO'). */
export async function writeFileAtomically(out: string, data: string | Uint8Array, io: WriteIo = realIo): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let tmp: string | undefined;
  try {
    const t = await targetOf(out);
    tmp = tempName(t.path);
    track(tmp);
    const fh = await io.open(tmp, 'wx', t.mode ?? 0o666);
    try {
      const pause = Number(process.env.WEBVIT_TEST_PAUSE_WRITE ?? 0);
      const half = Math.floor(bytes.byteLength / 2);
      let paused = false;
      for (let p = 0; p < bytes.byteLength; ) {
        if (pause > 0 && !paused && p >= half) {
          paused = true;
          process.stderr.write(`webvit: test pause (WEBVIT_TEST_PAUSE_WRITE): ${tmp} written ${p} of ${bytes.byteLength} bytes\n`);
          await sleep(pause);
        }
        const end = Math.min(bytes.byteLength, p + CHUNK, pause > 0 && !paused ? Math.max(half, p + 1) : Infinity);
        const { bytesWritten } = await fh.write(bytes, p, end - p);
        p += bytesWritten;
      }
      if (t.mode !== undefined) await fh.chmod(t.mode); // open's mode went through the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    stillReplaceable(out, t, await orUndefined(lstat(t.path)));
    await io.rename(tmp, t.path);
    untrack(tmp);
    tmp = undefined;
    await syncFolder(dirname(t.path));
  } catch (e) {
    if (tmp) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or removed by a signal handler
      }
      untrack(tmp);
    }
    throw ioError(out, e);
  }
}

/**
 * The same, synchronously, for small files written from synchronous code (the tuning cache). A
 * signal cannot interrupt it: it is handled once the write is done (see untrack).
 */
export function writeFileAtomicallySync(out: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let tmp: string | undefined;
  try {
    const t = targetOfSync(out);
    tmp = tempName(t.path);
    track(tmp);
    const fd = openSync(tmp, 'wx', t.mode ?? 0o666);
    try {
      for (let p = 0; p < bytes.byteLength; ) p += writeSync(fd, bytes, p, bytes.byteLength - p);
      if (t.mode !== undefined) fchmodSync(fd, t.mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    stillReplaceable(out, t, orUndefinedSync(() => lstatSync(t.path)));
    renameSync(tmp, t.path);
    untrack(tmp);
    tmp = undefined;
    syncFolderSync(dirname(t.path));
  } catch (e) {
    if (tmp) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      untrack(tmp);
    }
    throw ioError(out, e);
  }
}
