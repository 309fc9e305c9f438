import { unlinkSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebvitError } from '../runtime/errors.js';
import { UsageError } from './usage.js';

/**
 * Writing a command's output file without ever destroying data: the output must not be any file
 * the command read (compared by device and inode, so another spelling, a symlink or a hard link
 * is caught too), and it is written to `OUT.tmp-PID` and renamed, so that OUT is either what it
 * was or the whole new file. A failed write (ENOSPC, EFBIG, EIO ...) and SIGINT / SIGTERM / SIGHUP
 * during the write remove the temporary file and end the process on that signal.
 */

/**
 * Refuses an output path that is one of `inputs` (after following links). An output that does
 * not exist yet is fine. Throws a UsageError naming both paths.
 */
export async function refuseOverwritingInputs(out: string, inputs: string[]): Promise<void> {
  const o = await stat(out).catch(() => undefined);
  if (!o) return;
  for (const input of inputs) {
    const i = await stat(input).catch(() => undefined);
    if (i && i.dev === o.dev && i.ino === o.ino) {
      const what = resolve(input) === resolve(out) ? input : `the same file as ${input}`;
      throw new UsageError(`-o ${out} is ${what}, which the conversion reads: writing it would destroy the input; choose another output path`);
    }
  }
}

/** The file operations the writer uses; tests replace them to fail on purpose. */
export interface WriteIo {
  open: typeof open;
  rename: typeof rename;
}

const realIo: WriteIo = { open, rename };

/** Written per call to the file; small enough that a signal is handled between chunks. */
const CHUNK = 4 * 2 ** 20;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Writes `bytes` to `out` through `out.tmp-PID` and a rename. On a write error the temporary file
 * is removed and a WebvitError names OUT and the error code; on SIGINT, SIGTERM or SIGHUP during
 * the write it is removed and the process ends on that signal (a shell reports 130, 143, 129).
 * The signal handlers exist only while the write is under way.
 *
 * WEBVIT_TEST_PAUSE_WRITE=MS (for tests only): after the first half is written, print
 * "webvit: test pause ..." on stderr and wait MS milliseconds, so that a test can interrupt a write
 * that is certainly in progress.
 */
export async function writeOutputAtomically(out: string, bytes: Uint8Array, io: WriteIo = realIo): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  const removeTmp = () => {
    try {
      unlinkSync(tmp);
    } catch {
      // not created yet, or already gone
    }
  };
  // Remove the partial file, then end on the same signal (so that a shell sees an interrupted
  // command and a loop stops on Ctrl-C); exit 128 + signo should re-raising not end the process.
  const onSignal = (signal: NodeJS.Signals) => {
    removeTmp();
    for (const s of SIGNALS) process.off(s, onSignal);
    process.kill(process.pid, signal);
    process.exit(128 + (constants.signals[signal] ?? 0));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    // A stale file of this name (an earlier run with the same pid) goes first: 'wx' then never
    // writes through a symlink someone left there.
    await rm(tmp, { force: true });
    const fh = await io.open(tmp, 'wx');
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
    } finally {
      await fh.close();
    }
    await io.rename(tmp, out);
    // OUT is complete: a signal from here on must not report an interrupted write.
    for (const s of SIGNALS) process.off(s, onSignal);
  } catch (e) {
    removeTmp();
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new WebvitError('IO', `${out}: cannot write the output (${code}); nothing was written, ${out} is as it was`, { cause: e });
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}
