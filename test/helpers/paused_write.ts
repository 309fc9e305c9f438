import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A CLI command whose output writer stops half-way (WEBVIT_TEST_PAUSE_WRITE=MS, test only) and says
 * so on stderr: `paused` is true once it has, false if it ended or `waitMs` passed first. Tests send
 * it a signal while paused, so the signal lands inside a write that is certainly under way.
 */
export interface PausedWrite {
  child: ChildProcess;
  paused: Promise<boolean>;
  /** The exit code, or the signal it ended on. */
  ended: Promise<string | number | null>;
  /** stderr so far. */
  stderr(): string;
}

export function spawnPausedWrite(
  cli: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; pauseMs: number; waitMs: number },
): PausedWrite {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env, WEBVIT_TEST_PAUSE_WRITE: String(opts.pauseMs) };
  const child = spawn(process.execPath, [cli, ...args], { cwd: opts.cwd, env });
  let stderr = '';
  const ended = new Promise<string | number | null>((res) => child.on('exit', (code, sig) => res(sig ?? code)));
  const paused = new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), opts.waitMs);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('test pause')) {
        clearTimeout(timer);
        res(true);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      res(false);
    });
  });
  return { child, paused, ended, stderr: () => stderr };
}
