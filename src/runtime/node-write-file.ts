import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fchmodSync, fsyncSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { access, lstat, mkdir, open, readdir, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
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
 * - A symlink is followed only for a path the user typed (`convert -o`; { follow: true }, the
 *   default): the file it points to is replaced (its kind checked the same way) and the link stays
 *   a link, as `>` in a shell does. A dangling link or a link loop is refused rather than guessed.
 *   For a name webvit picks inside a folder (explain's outputs, bench reports, the tuning cache;
 *   { follow: false }) a symlink is refused: a link planted in an output folder must not redirect
 *   a write to a file outside it. checkOutputs and prepareOutputFolder make the same checks before
 *   a command's work, so a refusal comes before anything is computed or written.
 * - The bytes go to `STEM.tmp-HASH-PID-RANDOM` in OUT's folder (O_EXCL, so never through a file
 *   someone else put there), which is fsynced, given the mode of the file it replaces, and renamed
 *   over OUT; the folder is then fsynced (best effort: not every file system allows it). STEM is
 *   OUT's name cut to TEMP_STEM_BYTES and HASH 8 hex digits of the whole name, so the temporary
 *   name fits in 255 bytes whenever OUT's does; STEM is cut shorter where the temporary path
 *   would pass PATH_MAX, and an OUT whose folder leaves no room at all is refused (tempPrefix).
 * - Before the write, temporary files of the same OUT (the same STEM and HASH; regular files of
 *   this user only) whose PID is no longer a live process are removed: what a run killed by
 *   a signal that cannot be handled (SIGKILL, SIGRTMIN+n, a crash) left is gone at the next write.
 *   A folder is listed once per process. A PID reused by a live process keeps its leftover until
 *   that process ends; a writer in another PID namespace sharing the folder may look dead (its
 *   rename then fails, an error: OUT is never torn).
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
 * Signals whose default action ends the process and that Node lets a program handle safely. Not
 * here: SIGUSR1 (Node starts its inspector, unless a listener exists: the CLI's turns it into
 * SIGTERM, src/cli/orphan_guard.ts), SIGPIPE
 * (Node ignores it), SIGXFSZ (a handler would replace a shell's `trap '' XFSZ`, which turns an
 * over-size write into EFBIG, an error cleaned up like any other), SIGPROF (V8's CPU profiler
 * samples with it: a handler would end a profiled run at its first tick), SIGBUS, SIGSEGV, SIGILL
 * and SIGFPE (a real fault re-runs the faulting instruction after a JavaScript-level handler
 * returns: a crash would become a hang), SIGABRT (a crash, reported as one by src/cli/quiet_dawn.ts),
 * SIGRTMIN..SIGRTMAX (Node has no names for them), SIGKILL and SIGSTOP (cannot be handled). A
 * temporary file left by any of those is removed by the next write of the same output (see
 * removeStaleTemps).
 */
export const TERMINATING_SIGNALS = (
  ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU', 'SIGPWR', 'SIGIO', 'SIGSTKFLT', 'SIGSYS', 'SIGTRAP'] as const
).filter((s) => s in constants.signals);

/** The file operations the async writer uses; tests replace them to fail on purpose. */
export interface WriteIo {
  open: typeof open;
  rename: typeof rename;
}

const realIo: WriteIo = { open, rename };

/** Written per call to the file; small enough that a signal is handled between chunks. */
const CHUNK = 4 * 2 ** 20;

/** What an errno code means for a path, in words after the code (ENOENT: no such file). */
const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  ELOOP: 'a symbolic link loop',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a folder',
  ENAMETOOLONG: 'the path or a name in it is too long',
  EISDIR: 'a folder',
  EIO: 'an input/output error (a failing disk?)',
  ENOSPC: 'the disk is full',
  EFBIG: 'the file size limit is reached (ulimit -f)',
  EEXIST: 'a file is where a folder should be',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'a read-only file system',
};

/** An errno code with its meaning ("ELOOP: a symbolic link loop"), or the error's message. */
export const errnoWhy = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  return code ? (Object.hasOwn(ERRNO_WORDS, code) ? `${code}: ${ERRNO_WORDS[code]}` : code) : (e as Error).message;
};

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

/**
 * Told of every temporary file made (`made` true) and gone (false): the CLI's GPU child tells its
 * parent, which removes what a child it had to kill left (src/cli/quiet_dawn.ts).
 */
let tempListener: ((path: string, made: boolean) => void) | undefined;
export const onTempFiles = (f: typeof tempListener): void => void (tempListener = f);

function track(tmp: string): void {
  tempListener?.(tmp, true);
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
  tempListener?.(tmp, false);
  inFlight.delete(tmp);
  if (inFlight.size || !listening || lingering) return;
  lingering = setImmediate(() => {
    lingering = setImmediate(stopListening).unref();
  }).unref();
}

// ---- temporary names, and leftovers of dead writers ----------------------------------------------

/** Bytes of OUT's name kept in its temporary name (the rest is identified by the hash). */
export const TEMP_STEM_BYTES = 100;

/** OUT's name cut to at most `max` UTF-8 bytes, never inside a character. */
function cutName(name: string, max: number): string {
  const bytes = Buffer.from(name);
  if (bytes.byteLength <= max) return name;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // a continuation byte: back to the start
  return bytes.subarray(0, end).toString();
}

/** Longest path the kernel takes, in bytes (Linux's PATH_MAX is 4096 with the terminating NUL). */
export const PATH_MAX_BYTES = 4095;
/** Bytes of a temporary name after its stem: `.tmp-` HASH `-` PID (≤ 10 digits) `-` RANDOM. */
const TEMP_SUFFIX_BYTES = '.tmp-'.length + 8 + 1 + 10 + 1 + 8;

/**
 * `STEM.tmp-HASH-` for OUT: what every temporary name of OUT starts with. STEM is cut further
 * when OUT's folder is so long that the temporary path would pass PATH_MAX_BYTES (a deep path
 * that OUT itself still fits); when no stem at all fits, OUT is refused, naming the limit.
 */
function tempPrefix(path: string): string {
  const name = basename(path);
  const folderBytes = Buffer.byteLength(path) - Buffer.byteLength(name); // with its slash
  const room = PATH_MAX_BYTES - folderBytes - TEMP_SUFFIX_BYTES;
  if (room < 0) {
    throw new WebvitError(
      'IO',
      `${path}: its folder's path is ${folderBytes} bytes, and webvit writes through a temporary file beside the output whose path would pass the system's limit of ${PATH_MAX_BYTES} bytes (PATH_MAX); nothing was written: choose a shorter path`,
    );
  }
  return `${cutName(name, Math.min(TEMP_STEM_BYTES, room))}.tmp-${createHash('sha256').update(name).digest('hex').slice(0, 8)}-`;
}

const tempName = (path: string) => join(dirname(path), `${tempPrefix(path)}${process.pid}-${randomBytes(4).toString('hex')}`);

/** Per folder, the names in it that looked like temporary files when it was first listed. */
const listed = new Map<string, Set<string>>();

function alive(pid: number): boolean {
  if (pid === process.pid) return true; // ours: in flight, or (pid reuse) checked by the caller
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // someone else's live process
  }
}

/**
 * The names among `names` that are temporary files of `path` whose writer is dead: the exact
 * shape of webvit's names (STEM.tmp-HASH-PID-RANDOM, the hash of OUT's name in it, so that another
 * program's file cannot match by accident), a regular file (never a device, FIFO, socket or
 * link: lstat) owned by this user.
 */
function staleTemps(path: string, names: Set<string>): string[] {
  const prefix = tempPrefix(path);
  const stale: string[] = [];
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d{1,10})-[0-9a-f]{8}$/.exec(n.slice(prefix.length)) : null;
    const full = join(dirname(path), n);
    if (!m || inFlight.has(full) || (Number(m[1]) !== process.pid && alive(Number(m[1])))) continue;
    const st = orUndefinedSync(() => lstatSync(full));
    if (st?.isFile() && st.uid === (process.getuid?.() ?? st.uid)) stale.push(n);
  }
  return stale;
}

function tempsListed(dir: string, names: string[] | undefined): Set<string> {
  const set = new Set((names ?? []).filter((n) => n.includes('.tmp-')));
  listed.set(dir, set);
  return set;
}

/** Removes the temporary files of `path` left by dead writers (see the top of this file). */
function removeStaleTempsSync(path: string): void {
  const dir = dirname(path);
  const names = listed.get(dir) ?? tempsListed(dir, orUndefinedSync(() => readdirSync(dir)));
  for (const n of staleTemps(path, names)) {
    names.delete(n);
    orUndefinedSync(() => unlinkSync(join(dir, n)));
  }
}

async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const names = listed.get(dir) ?? tempsListed(dir, await orUndefined(readdir(dir)));
  for (const n of staleTemps(path, names)) {
    names.delete(n);
    await orUndefined(unlink(join(dir, n)));
  }
}

// ---- the target ----------------------------------------------------------------------------------

interface Target {
  /** The path renamed over: OUT, or the file OUT links to. */
  path: string;
  /** Permission bits of the file replaced (undefined for a new file). */
  mode?: number;
}

/** How a writer treats OUT. */
export interface WriteOptions {
  /**
   * true (the default): OUT is a path the user typed, and a symlink there is followed. false: OUT
   * is a name webvit picked inside a folder, and a symlink there is refused.
   */
  follow?: boolean;
  /** The file operations (tests replace them to fail on purpose). */
  io?: WriteIo;
}

const refuse = (out: string, why: string): never => {
  throw new WebvitError('IO', `${out}: ${why}; webvit writes its outputs only to regular files (nothing was written): choose a file path`);
};

const deviceNumbers = (l: Stats) => (l.isCharacterDevice() || l.isBlockDevice() ? ` (${l.rdev >> 8},${l.rdev & 0xff})` : '');

/** What lstat/stat said of OUT: its Stats, or the errno code of a failure other than ENOENT. */
type Look = Stats | string | undefined;

/**
 * Where OUT's bytes go, or a refusal: from lstat(OUT) and, for a symlink, readlink, stat (an errno
 * code when it fails: ENOENT is a dangling link, ELOOP a loop) and realpath.
 */
function target(out: string, l: Look, follow: boolean, link: () => string | undefined, st: () => Look, resolved: () => string | undefined): Target {
  if (typeof l === 'string') {
    const bytes = Buffer.byteLength(out);
    const why =
      l !== 'ENAMETOOLONG'
        ? errnoWhy({ code: l })
        : bytes > PATH_MAX_BYTES
          ? `ENAMETOOLONG: the path is ${bytes} bytes, past the system's limit of ${PATH_MAX_BYTES} (PATH_MAX)`
          : 'ENAMETOOLONG: a name in it is longer than the file system allows';
    throw new WebvitError('IO', `${out}: cannot be written (${why}); nothing was written: choose another path`);
  }
  if (!l) return { path: out };
  if (l.isSymbolicLink()) {
    const to = link() ?? '?';
    if (!follow) {
      throw new WebvitError('IO', `${out}: is a symbolic link (to ${to}); webvit never follows a link among the files it names in an output folder (one planted there would redirect the write): remove the link (nothing was written)`);
    }
    const s = st();
    if (s === 'ELOOP') return refuse(out, `is a symbolic link loop (to ${to})`);
    if (s === undefined || s === 'ENOENT') return refuse(out, `is a symbolic link to ${to}, which does not exist (a dangling link)`);
    if (typeof s === 'string') return refuse(out, `is a symbolic link to ${to}, which cannot be looked at (${s})`);
    if (!s.isFile()) return refuse(out, `is a symbolic link to ${resolved() ?? to}, which is ${fileKind(s)}${deviceNumbers(s)}`);
    const real = resolved();
    if (!real) return refuse(out, `is a symbolic link to ${to}, whose real path cannot be resolved`);
    return { path: real, mode: s.mode & 0o7777 };
  }
  if (!l.isFile()) return refuse(out, `is ${fileKind(l)}${deviceNumbers(l)}`);
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
/** Stats, undefined for ENOENT, or the errno code. */
const looked = (e: unknown): string | undefined => {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return code === 'ENOENT' ? undefined : code;
};
const look = async (p: Promise<Stats>): Promise<Look> => p.catch(looked);
function lookSync(f: () => Stats): Look {
  try {
    return f();
  } catch (e) {
    return looked(e);
  }
}

async function targetOf(out: string, follow: boolean): Promise<Target> {
  const l = await look(lstat(out));
  const isLink = typeof l === 'object' && l.isSymbolicLink();
  const to = isLink ? await orUndefined(readlink(out)) : undefined;
  const s = isLink && follow ? await stat(out).catch((e: NodeJS.ErrnoException) => e.code ?? 'ENOENT') : undefined;
  const real = isLink && follow ? await orUndefined(realpath(out)) : undefined;
  return target(out, l, follow, () => to, () => s, () => real);
}

function targetOfSync(out: string, follow: boolean): Target {
  return target(
    out,
    lookSync(() => lstatSync(out)),
    follow,
    () => orUndefinedSync(() => readlinkSync(out)),
    () => {
      try {
        return statSync(out);
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? 'ENOENT';
      }
    },
    () => orUndefinedSync(() => realpathSync(out)),
  );
}

/**
 * The checks a writer makes of OUT, made of every output of a command before its work (before
 * the GPU is started), so that a refusal writes nothing: each must be a regular file or absent
 * (with `follow: false`, not a symlink either) and have a name the file system takes.
 */
export async function checkOutputs(outs: readonly string[], options: Pick<WriteOptions, 'follow'> = {}): Promise<void> {
  for (const out of outs) tempPrefix((await targetOf(out, options.follow ?? true)).path);
}

const folderError = (dir: string, flag: string, why: string): WebvitError =>
  new WebvitError('IO', `${flag} ${dir}: ${why}; nothing was written: give ${flag} a folder that webvit can write into (it is created if missing)`);

/**
 * Creates `dir` one level at a time, so that the error is the real one (EROFS, EACCES, ENOTDIR;
 * a recursive mkdir says ENOENT on a read-only file system). `top` is the folder asked for.
 */
async function makeFolder(dir: string, flag: string, top = dir): Promise<void> {
  const at = dir === top ? '' : `${dir} `;
  try {
    await mkdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const s = await look(stat(dir));
      if (typeof s === 'object' && !s.isDirectory()) throw folderError(top, flag, `${at}is ${fileKind(s)}, not a folder`);
      return; // made meanwhile; its writability is checked by the caller
    }
    if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(dir) !== dir) {
      const parent = dirname(dir);
      const p = await look(stat(parent));
      if (typeof p === 'object' && !p.isDirectory()) throw folderError(top, flag, `${parent} is ${fileKind(p)}, not a folder`);
      await makeFolder(parent, flag, top);
      return makeFolder(dir, flag, top);
    }
    throw folderError(top, flag, `${at}cannot be created (${code ?? (e as Error).message})`);
  }
}

/**
 * An output folder (explain -o, bench --out) made ready before a command's work: `dir` (followed
 * if a link: the user typed it) must be a folder or absent, `files` (names webvit picks in it) are
 * checked as by checkOutputs with `follow: false`, then the folder is created if missing and must
 * be writable. Throws a WebvitError('IO') naming the path, its kind or the errno.
 */
export async function prepareOutputFolder(dir: string, flag: string, files: readonly string[] = []): Promise<void> {
  // "-" means standard output to most tools; here it made a folder named "-" (hostile round twelve).
  if (dir === '-') throw new WebvitError('BAD_ARGUMENT', `${flag} -: this writes several files into a folder, not to standard output; give a folder name (./- for a folder named "-")`);
  const l0 = await look(lstat(dir));
  const l = l0 === 'ENOTDIR' ? undefined : l0; // a file above it: makeFolder names it
  const s = typeof l === 'object' && l.isSymbolicLink() ? await stat(dir).catch((e: NodeJS.ErrnoException) => e.code ?? 'ENOENT') : l;
  if (typeof l === 'object' && l.isSymbolicLink() && (s === 'ENOENT' || s === 'ELOOP')) {
    throw folderError(dir, flag, s === 'ELOOP' ? `is a symbolic link loop (to ${await orUndefined(readlink(dir))})` : `is a symbolic link to ${await orUndefined(readlink(dir))}, which does not exist (a dangling link)`);
  }
  if (typeof s === 'string') throw folderError(dir, flag, `cannot be looked at (${s})`);
  if (s && !s.isDirectory()) {
    const via = s !== l ? `is a symbolic link to ${await orUndefined(readlink(dir))}, which ` : '';
    throw folderError(dir, flag, `${via}is ${fileKind(s)}${deviceNumbers(s)}, not a folder`);
  }
  if (s) await checkOutputs(files, { follow: false });
  else await makeFolder(dir, flag);
  await access(dir, fsConstants.W_OK | fsConstants.X_OK).catch((e: NodeJS.ErrnoException) => {
    throw folderError(dir, flag, `cannot be written into (${e.code ?? e.message})`);
  });
}

/** Just before the rename: the target must still be a regular file or absent (narrows a race). */
function stillReplaceable(out: string, t: Target, l: Stats | undefined): void {
  if (l && !l.isFile()) refuse(out, `${t.path === out ? '' : `links to ${t.path}, which `}became ${fileKind(l)} while being written`);
}

const ioError = (out: string, e: unknown): WebvitError =>
  e instanceof WebvitError
    ? e
    : new WebvitError('IO', `${out}: cannot write the output (${writeWhy(e)}); nothing was written, ${out} is as it was`, { cause: e });

/** An errno code of a failed write, with what it means there. */
function writeWhy(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'ENOENT: its folder does not exist, or was moved or removed during the write';
  if (code === 'ENOSPC') return 'ENOSPC: the disk is full';
  if (code === 'EDQUOT') return 'EDQUOT: the disk quota is used up';
  if (code === 'EACCES' || code === 'EPERM') return `${code}: permission denied`;
  if (code === 'EROFS') return 'EROFS: a read-only file system';
  return code ?? (e as Error).message;
}

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

/**
 * Writes `data` to `out` atomically (see the top of this file); rejects with a WebvitError('IO').
 * `options` may be a WriteIo alone (tests).
 */
export async function writeFileAtomically(out: string, data: string | Uint8Array, options: WriteOptions | WriteIo = {}): Promise<void> {
  const o: WriteOptions = 'open' in options ? { io: options } : options;
  await stage(out, data, o);
}

type FileHandle = Awaited<ReturnType<typeof open>>;

/** A file written and synced to its temporary name, not yet renamed over OUT (a WriteBatch's). */
interface Staged {
  out: string;
  tmp: string;
  t: Target;
}

/**
 * Writes `data` to a temporary file beside OUT and syncs it; then renames it over OUT, or (`keep`,
 * a WriteBatch's) closes it and hands it over for a later rename. On any error before the rename
 * the temporary file is removed and the error names OUT.
 */
async function stage(out: string, data: string | Uint8Array, o: WriteOptions, keep?: (s: Staged) => void): Promise<void> {
  const io = o.io ?? realIo;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let tmp: string | undefined;
  let fh: FileHandle | undefined;
  try {
    const t = await targetOf(out, o.follow ?? true);
    await removeStaleTemps(t.path);
    tmp = tempName(t.path);
    track(tmp);
    fh = await io.open(tmp, 'wx', t.mode ?? 0o666);
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
    if (keep) {
      await fh.close();
      fh = undefined;
      keep({ out, tmp, t });
      return;
    }
    stillReplaceable(out, t, await orUndefined(lstat(t.path)));
    // Renamed while still open: were the folder moved meanwhile, the open file still says where
    // the temporary file is now (discardTemp).
    await io.rename(tmp, t.path);
    untrack(tmp);
    tmp = undefined;
    await fh.close();
    fh = undefined;
    await syncFolder(dirname(t.path));
  } catch (e) {
    if (tmp) discardTemp(tmp, fh?.fd);
    await fh?.close().catch(() => undefined);
    throw ioError(out, e);
  }
}

/**
 * Files written together (explain's figures, maps and JSON): each is written and synced to its
 * temporary name as it comes, and none replaces anything until commit() renames them all (renames
 * need no space: a disk that fills, or any other failure, before the commit leaves every earlier
 * file as it was). abort() removes what was staged. Signals remove staged files as for one write.
 */
export class WriteBatch {
  private readonly staged: Staged[] = [];

  constructor(private readonly options: WriteOptions = {}) {}

  async write(out: string, data: string | Uint8Array): Promise<void> {
    await stage(out, data, this.options, (s) => this.staged.push(s));
  }

  /** Renames every staged file over its output, in the order written. */
  async commit(): Promise<void> {
    const io = this.options.io ?? realIo;
    const folders = new Set<string>();
    for (const [i, s] of this.staged.entries()) {
      try {
        stillReplaceable(s.out, s.t, await orUndefined(lstat(s.t.path)));
        await io.rename(s.tmp, s.t.path);
        untrack(s.tmp);
        folders.add(dirname(s.t.path));
      } catch (e) {
        this.staged.splice(0, i); // renamed already: theirs stand
        this.abort();
        throw ioError(s.out, e);
      }
    }
    this.staged.length = 0;
    for (const d of folders) await syncFolder(d);
  }

  /** Removes every staged file (nothing was renamed). */
  abort(): void {
    for (const s of this.staged) discardTemp(s.tmp);
    this.staged.length = 0;
  }
}

/**
 * A failed write's temporary file removed (never created, or already removed by a signal handler:
 * fine). With the file still open (`fd`), it is removed where it is now: a folder renamed during
 * the write, or swapped for a link, has moved it away from the path it was created at.
 */
function discardTemp(tmp: string, fd?: number): void {
  let where = tmp;
  if (fd !== undefined) {
    const now = orUndefinedSync(() => readlinkSync(`/proc/self/fd/${fd}`)); // Linux; elsewhere the path made
    if (now && basename(now) === basename(tmp)) where = now;
  }
  try {
    unlinkSync(where);
  } catch {
    // not there
  }
  untrack(tmp);
}

/**
 * The same, synchronously, for small files written from synchronous code (the tuning cache). A
 * signal cannot interrupt it: it is handled once the write is done (see untrack).
 */
export function writeFileAtomicallySync(out: string, data: string | Uint8Array, options: Pick<WriteOptions, 'follow'> = {}): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let tmp: string | undefined;
  let fd: number | undefined;
  try {
    const t = targetOfSync(out, options.follow ?? true);
    removeStaleTempsSync(t.path);
    tmp = tempName(t.path);
    track(tmp);
    fd = openSync(tmp, 'wx', t.mode ?? 0o666);
    for (let p = 0; p < bytes.byteLength; ) p += writeSync(fd, bytes, p, bytes.byteLength - p);
    if (t.mode !== undefined) fchmodSync(fd, t.mode);
    fsyncSync(fd);
    stillReplaceable(out, t, orUndefinedSync(() => lstatSync(t.path)));
    renameSync(tmp, t.path);
    untrack(tmp);
    tmp = undefined;
    closeSync(fd);
    fd = undefined;
    syncFolderSync(dirname(t.path));
  } catch (e) {
    if (tmp) discardTemp(tmp, fd);
    if (fd !== undefined) orUndefinedSync(() => closeSync(fd!));
    throw ioError(out, e);
  }
}
