import { parseArgs, type ParseArgsConfig } from 'node:util';
import { clip } from '../runtime/errors.js';

/** A mistake in how a command was called: printed without a stack, exit code 2. */
export class UsageError extends Error {}

let commandName = '';

/** Set by main before a command runs, so that usage errors point at that command's own --help. */
export function setCommandName(name: string): void {
  commandName = name;
}

/** "try `webvit classify --help`" (or `webvit --help` outside a command). */
export function helpHint(): string {
  return `try \`webvit ${commandName ? `${commandName} ` : ''}--help\``;
}

/** node:util parseArgs, with its errors turned into usage errors. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    // Node's long aside on positionals that start with '-' buries the point; `--` is in the usage.
    const message = (e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '').replace(/\s*\n\s*/g, ' ');
    throw new UsageError(`${message}; ${helpHint()}`);
  }
}

/** A `--name N` flag that must be a positive integer (undefined when absent). */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${clip(v, 80)}"`);
  return n;
}

/** Usage text of --tune / --no-tune, shared by the commands that load a model. */
export const TUNE_USAGE =
  '--tune: time the kernel variants on this adapter and cache the fastest correct\n' +
  '      ones (slow the first time; later runs use the cache). --no-tune: the adapter\n' +
  '      defaults, ignoring cached tuning. Neither: cached choices, else the defaults.';

/** LoadOptions.tune from --tune / --no-tune: true tunes, false ignores the cache, undefined uses it. */
export function tuneOption(values: { tune?: boolean; 'no-tune'?: boolean }): boolean | undefined {
  if (values.tune && values['no-tune']) throw new UsageError('--tune and --no-tune contradict each other; give one');
  return values.tune ? true : values['no-tune'] ? false : undefined;
}
