import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './usage.js';

/**
 * A command's outputs are never its inputs: every path a command would write is compared with
 * every file it reads, before anything is read into the GPU or written. The writing itself is
 * src/runtime/node-write-file.ts (atomic, regular files only), re-exported here for the commands.
 */
export { writeFileAtomically as writeOutputAtomically, type WriteIo } from '../runtime/node-write-file.js';

/** The same file: by device and inode when both exist (links and other spellings included). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  if (sa && sb) return sa.dev === sb.dev && sa.ino === sb.ino;
  if (sa || sb) return false;
  // Neither exists yet: the same path once their folders' links are resolved.
  const where = async (p: string) => join(await realpath(dirname(p)).catch(() => resolve(dirname(p))), basename(p));
  return (await where(a)) === (await where(b));
}

/**
 * The first output that is one of the inputs, as `[output, input]`, or undefined. An output that
 * does not exist yet is the same as an input of the same path (a run that writes it before it is
 * read would read its own output).
 */
export async function outputThatIsAnInput(outputs: string[], inputs: string[]): Promise<[string, string] | undefined> {
  for (const out of outputs) for (const input of inputs) if (await sameFile(out, input)) return [out, input];
  return undefined;
}

/**
 * Refuses an output path that is one of `inputs` (after following links). An output that does
 * not exist yet is fine unless an input has its path. Throws a UsageError naming both paths.
 */
export async function refuseOverwritingInputs(out: string, inputs: string[]): Promise<void> {
  const hit = await outputThatIsAnInput([out], inputs);
  if (!hit) return;
  const input = hit[1];
  const what = resolve(input) === resolve(out) ? input : `the same file as ${input}`;
  throw new UsageError(`-o ${out} is ${what}, which the conversion reads: writing it would destroy the input; choose another output path`);
}
