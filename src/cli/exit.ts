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
 * tool killed by SIGPIPE has (141), as `cat` or `grep` would, instead of an "internal error".
 */

/** Resolves once every byte written to `stream` so far has left the process (or cannot). */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded || stream.writableLength === 0) return Promise.resolve();
  // Writes complete in order: this empty write's callback runs after all earlier ones.
  return new Promise((resolve) => {
    stream.write('', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** Waits for stdout and stderr to drain, then exits with `code`. */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/** The exit status of a process ended by SIGPIPE (128 + 13), which is how a pipe's writer usually ends. */
export const BROKEN_PIPE_STATUS = 141;

/**
 * From here on a closed stdout or stderr (EPIPE: the reader is gone) ends the process at once,
 * quietly: there is nobody left to read a message. Other write errors on them are left to Node.
 */
export function exitQuietlyOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(BROKEN_PIPE_STATUS);
      throw e;
    });
  }
}

/** Longest message main prints: the head and the tail of a longer one are kept (`clip`). */
export const MAX_MESSAGE = 4096;
