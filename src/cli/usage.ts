import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how a command was called: printed without a stack, exit code 2. */
export class UsageError extends Error {}

/** node:util parseArgs, with its errors turned into usage errors. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; try \`webvit --help\``);
  }
}

/** A `--name N` flag that must be a positive integer (undefined when absent). */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return n;
}
