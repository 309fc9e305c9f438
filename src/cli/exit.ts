/**
 * How the CLI ends. `process.exit` drops whatever stdout and stderr still hold when they are
 * pipes (Node writes to a pipe asynchronously: past the pipe's 64 KiB buffer the rest waits in
 * the process), so `webvit inspect --json | jq` would get 65,536 bytes and exit 0. Every path
 * out of the CLI therefore waits until both streams have handed their bytes to the system, then
 * exits: the wait is as long as the reader takes (like `cat`, a slow reader slows the writer,
 * nothing is dropped). `process.exit` itself stays, because Dawn keeps handles alive that would
 * otherwise hold the process after the work is done.
 *
 * A reader that goes away (`webvit ... | head -1`) ends the process quietly with the status a
 * tool killed by SIGPIPE has (141), as `cat` or `grep` would, instead of an "internal error";
 * any other failure to write stdout (a full disk) is said on stderr, exit 1, never exit 0.
 */
import { fstatSync, writeSync } from 'node:fs';
import { errnoWhy } from '../runtime/node-write-file.js';

/** Resolves once every byte written to `stream` so far has left the process (or cannot). */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded || stream.writableLength === 0) return Promise.resolve();
  // Writes complete in order: this empty write's callback runs after all earlier ones.
  return new Promise((resolve) => {
    stream.write('', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** Waits for stdout and stderr to drain, then exits with `code` (or as a failed stdout says). */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  // A write error is recorded on the stream at once but emitted a tick later: do not exit 0 first.
  const failed = process.stdout.errored as NodeJS.ErrnoException | null;
  if (failed) await stdoutFailed(failed);
  process.exit(code);
}

/** The exit status of a process ended by SIGPIPE (128 + 13), which is how a pipe's writer usually ends. */
export const BROKEN_PIPE_STATUS = 141;

let reported = false;

/**
 * stdout could not be written. EPIPE (the reader is gone: `| head`): end at once, quietly, as
 * SIGPIPE ends other tools. Anything else (ENOSPC on a full disk or /dev/full, EIO): the output
 * is lost, so say so on stderr and exit 1 rather than go on or exit 0.
 */
async function stdoutFailed(e: NodeJS.ErrnoException): Promise<never> {
  if (e.code === 'EPIPE' || (e.code === 'ERR_STREAM_DESTROYED' && !reported)) process.exit(BROKEN_PIPE_STATUS);
  if (!reported) {
    reported = true;
    process.stderr.write(`webvit: cannot write to standard output (${errnoWhy(e)}); the output is incomplete\n`);
    await flushed(process.stderr);
  }
  process.exit(1);
}

/**
 * From here on a failed stdout ends the process (stdoutFailed). On stderr, EPIPE ends it quietly
 * too (nobody is left to read); other stderr errors are ignored: the work and its exit code stand.
 */
export function exitOnOutputErrors(): void {
  writesWhole(process.stdout);
  writesWhole(process.stderr);
  process.stdout.on('error', (e: NodeJS.ErrnoException) => void stdoutFailed(e));
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(BROKEN_PIPE_STATUS);
  });
}

/**
 * A stream on a regular file (`webvit ... > out.json`): Node writes each chunk with one
 * fs.writeSync and does not retry a short write, so on a disk that filled during a write the rest
 * of the chunk was dropped with no error, exit 0 (round ten: `explain --json > file` kept 4,096 of
 * 21,189 bytes). Here each chunk is written whole, and the error of the write that cannot go on
 * (ENOSPC, EFBIG) reaches the stream's error handler: the output is said to be incomplete, exit 1.
 */
function writesWhole(stream: NodeJS.WriteStream): void {
  const s = stream as unknown as { fd?: number; _write?: (chunk: Buffer, encoding: string, cb: (e?: Error | null) => void) => void };
  const fd = s.fd;
  if (typeof fd !== 'number' || typeof s._write !== 'function') return;
  try {
    if (!fstatSync(fd).isFile()) return;
  } catch {
    return;
  }
  s._write = (chunk, _encoding, cb) => {
    try {
      for (let at = 0; at < chunk.length; ) {
        const n = writeSync(fd, chunk, at, chunk.length - at);
        if (n <= 0) throw Object.assign(new Error(`wrote 0 of ${chunk.length - at} bytes`), { code: 'EIO' });
        at += n;
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  };
}

export { MAX_MESSAGE } from './shown.js';
