/**
 * The GPU child (src/cli/quiet_dawn.ts) ends when its parent is gone. This module is the CLI's
 * first import, so the check is in place before the rest of the CLI is even evaluated: a parent
 * killed while the child was still starting (before any listener existed, so the channel's
 * 'disconnect' event went to nobody) must not leave the child running the whole job under init.
 * It has no imports of its own, for the same reason.
 */

/** The variable the parent sets in the child's environment (`TTY,COLUMNS,PARENT_PID`). */
export const CHILD_ENV = 'WEBVIT_QUIET_DAWN_CHILD';

/** In the GPU child: end as on a hang-up (a write in progress removes its partial file). */
function parentGone(): void {
  process.kill(process.pid, 'SIGHUP');
}

const spec = process.env[CHILD_ENV];
if (spec !== undefined && process.send !== undefined) {
  process.on('disconnect', parentGone);
  // Gone already: the channel closed before the listener existed, or the child was re-parented.
  const parent = Number(spec.split(',')[2]);
  if (!process.connected || (parent > 0 && process.ppid !== parent)) parentGone();
}

// SIGUSR1 would start Node's inspector: a debugger port on 127.0.0.1 that any local process can
// connect to and run code in this one (a hostile run found it open after `kill -USR1`). A listener
// keeps it off; the CLI (parent and GPU child alike) ends on it as on SIGTERM, so a write in
// progress removes its partial file and the exit status says it was ended by a signal.
process.on('SIGUSR1', () => {
  process.stderr.write('webvit: SIGUSR1: ending as on SIGTERM (webvit opens no debugger port)\n');
  process.kill(process.pid, 'SIGTERM');
});
