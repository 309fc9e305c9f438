import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { constants } from 'node:os';
import { flushed } from './exit.js';
import { onTempFiles, TERMINATING_SIGNALS } from '../runtime/node-write-file.js';
import { CHILD_ENV } from './orphan_guard.js';

/**
 * Dawn's Vulkan backend prints two lines on every adapter request when the driver's limits exceed
 * what Dawn supports (on lavapipe and SwiftShader: "Warning: maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced from 1000000 to 16 …"). They come from native code writing straight to file
 * descriptor 2, with no toggle, log level or callback, and Node cannot redirect a descriptor around
 * one call. So the CLI runs its GPU commands in a child process whose stderr it passes through,
 * dropping exactly those lines. The child is told whether the real stderr is a terminal (and how
 * wide), so progress lines look the same. `WEBVIT_RAW_STDERR=1` turns this off.
 *
 * The child also has an IPC channel to the parent, used for one thing: when it closes, the parent
 * is gone (killed with SIGKILL, say, which it cannot pass on), and the child ends too instead of
 * running on at full CPU under init.
 */

/** The lines dropped: Dawn's limit-normalisation warnings, nothing else. */
export const DAWN_NOISE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;
const NOISE_PREFIX = 'Warning: maxDynamic';

/**
 * A filter over a stream of text: complete lines matching DAWN_NOISE are dropped, everything else
 * is passed on as soon as it arrives (a progress line without a newline is not held back, unless
 * it could still become a noise line).
 */
export function noiseFilter(write: (s: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk: string) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!DAWN_NOISE.test(line)) write(`${line}\n`);
      }
      // A partial line is held only while it may still turn into a noise line.
      const maybeNoise = pending.length <= NOISE_PREFIX.length ? NOISE_PREFIX.startsWith(pending) : pending.startsWith(NOISE_PREFIX);
      if (pending && !maybeNoise) {
        write(pending);
        pending = '';
      }
    },
    end() {
      if (pending) write(pending);
      pending = '';
    },
  };
}

/** In the child: make process.stderr report the parent's terminal, so progress is drawn as before. */
export function adoptParentTerminal(): boolean {
  if (process.env[CHILD_ENV] === undefined) return false;
  const [tty, columns] = process.env[CHILD_ENV]!.split(',');
  if (tty === '1') Object.defineProperties(process.stderr, { isTTY: { value: true }, columns: { value: Number(columns) || 80 } });
  delete process.env[CHILD_ENV];
  // Ending when the parent goes away is src/cli/orphan_guard.ts's job, done before anything else.
  return true;
}

/** How long a child has to end after a signal passed on to it before it is killed. */
const KILL_GRACE_MS = 5000;

/**
 * Runs this CLI again as a child with filtered stderr and returns its exit code, or undefined when
 * this process should do the work itself (already the child, or turned off).
 */
export async function runQuietChild(argv: string[]): Promise<number | undefined> {
  if (process.env.WEBVIT_RAW_STDERR === '1') return undefined;
  if (adoptParentTerminal()) {
    // The child: its temporary files are told to the parent, which removes them if it kills it.
    if (process.send) onTempFiles((path, made) => void process.send!({ webvitTemp: path, made }));
    return undefined;
  }
  const env = { ...process.env, [CHILD_ENV]: `${process.stderr.isTTY ? 1 : 0},${process.stderr.columns ?? 0},${process.pid}` };
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], { stdio: ['inherit', 'inherit', 'pipe', 'ipc'], env });
  // The child's stderr is read no faster than this process's stderr is: a slow reader slows the
  // child (as it would without the filter) instead of piling its output up here.
  // Once stderr has failed (a full disk: ENOSPC), its 'drain' never comes: the child's output is
  // then read and dropped (its work and exit code stand, as exitOnOutputErrors says), never left to
  // fill the pipe and block the child.
  let paused = false;
  const resume = () => {
    if (!paused) return;
    paused = false;
    child.stderr!.resume();
  };
  const failed = () => process.stderr.destroyed || process.stderr.errored !== null;
  process.stderr.once('close', resume);
  process.stderr.once('error', resume);
  const filter = noiseFilter((s) => {
    if (failed()) return;
    if (process.stderr.write(s) || paused || failed()) return;
    paused = true;
    child.stderr!.pause();
    process.stderr.once('drain', resume);
  });
  const temps = new Set<string>();
  child.on('message', (m: { webvitTemp?: unknown; made?: unknown }) => {
    if (typeof m?.webvitTemp !== 'string') return;
    if (m.made) temps.add(m.webvitTemp);
    else temps.delete(m.webvitTemp);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => filter.push(s));
  // Ctrl-C reaches the whole process group (the child handles it); a terminating signal sent to
  // this process alone is passed on (every one the output writer cleans up after, so a temporary
  // file is removed by the process that made it). Either way this process waits for the child and
  // exits as it did.
  // A child that does not end within KILL_GRACE_MS of a forwarded signal (stopped, or stuck in a
  // native wait) is killed, and this process still ends on the signal it got.
  let forwarded: NodeJS.Signals | undefined;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const forward = (signal: NodeJS.Signals) => () => {
    forwarded ??= signal;
    child.kill(signal);
    grace ??= setTimeout(() => {
      process.stderr.write(`webvit: the GPU process did not end within ${KILL_GRACE_MS / 1000} s of ${signal}; killing it\n`);
      child.kill('SIGKILL');
    }, KILL_GRACE_MS);
  };
  const handlers = TERMINATING_SIGNALS.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', async (code, ended) => {
      filter.end();
      clearTimeout(grace);
      for (const [s, h] of handlers) process.off(s, h);
      const signal = ended && forwarded && ended === 'SIGKILL' ? forwarded : ended;
      // A child ended by SIGKILL (ours after the grace, or anyone's) cleans nothing up: its
      // temporary files (named with its pid) are removed here.
      if (ended === 'SIGKILL') for (const t of temps) if (basename(t).includes(`-${child.pid}-`)) rmSync(t, { force: true });
      if (!signal) return resolve(code ?? 1);
      // The child died on a signal: end the same way, so that a shell sees it (a loop stops on
      // Ctrl-C). A crash (SIGSEGV, SIGABRT, ...) is said in words first: it printed nothing itself.
      // So is a terminating signal that reached the child alone (kill of its pid), not this process.
      if (!(TERMINATING_SIGNALS as readonly string[]).includes(signal) || !forwarded) process.stderr.write(`webvit: the GPU process ended on ${signal}\n`);
      await flushed(process.stderr);
      process.kill(process.pid, signal);
      resolve(128 + (constants.signals[signal] ?? 0)); // if re-raising did not end this process
    });
  });
}
