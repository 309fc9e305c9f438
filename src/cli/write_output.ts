import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './usage.js';

/**
 * A command's outputs are never its inputs: every path a command would write is compared with
 * every file it reads, before anything is read into the GPU or written. The writing itself is
 * src/runtime/node-write-file.ts (atomic, regular files only), re-exported here for the commands.
 */
export { prepareOutputFolder, writeFileAtomically as writeOutputAtomically, WriteBatch, type WriteIo } from '../runtime/node-write-file.js';

/**
 * The first output that is one of the inputs, as `[output, input]`, or undefined. Existing files
 * are compared by device and inode (so links and other spellings are caught); an output and an
 * input that both do not exist yet, by their paths once their folders' links are resolved (a run
 * that wrote the one before reading the other would read its own output). Each path is looked at
 * once: explain over a folder of 10,000 images makes 10,000 outputs and 10,000 inputs.
 */
export async function outputThatIsAnInput(outputs: string[], inputs: string[]): Promise<[string, string] | undefined> {
  const folders = new Map<string, Promise<string>>();
  const where = async (p: string) => {
    const dir = dirname(p);
    if (!folders.has(dir)) folders.set(dir, realpath(dir).catch(() => resolve(dir)));
    return join(await folders.get(dir)!, basename(p));
  };
  const key = async (p: string) => {
    const st = await stat(p).catch(() => undefined);
    return st ? `inode ${st.dev}:${st.ino}` : `path ${await where(p)}`;
  };
  const seen = new Map<string, string>();
  for (const input of inputs) {
    const k = await key(input);
    if (!seen.has(k)) seen.set(k, input);
  }
  for (const out of outputs) {
    const input = seen.get(await key(out));
    if (input !== undefined) return [out, input];
  }
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
