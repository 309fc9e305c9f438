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
    return parseArgs({ ...config, args: negativeValuesJoined(config) });
  } catch (e) {
    // Node's long aside on positionals that start with '-' buries the point; `--` is in the usage.
    const message = (e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '').replace(/\s*\n\s*/g, ' ');
    throw new UsageError(`${message}; ${helpHint()}`);
  }
}

/**
 * `--top -1` as `--top=-1`: parseArgs takes `-1` for an option (and calls the value ambiguous),
 * where the user meant a (wrong) number, which the option's own check then names.
 */
function negativeValuesJoined(config: ParseArgsConfig): string[] {
  const args = config.args ?? process.argv.slice(2);
  const valued = new Set<string>();
  for (const [name, o] of Object.entries(config.options ?? {})) {
    if (o.type !== 'string') continue;
    valued.add(`--${name}`);
    if (o.short) valued.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return [...out, ...args.slice(i)];
    if (valued.has(args[i]) && /^-[\d.]/.test(args[i + 1] ?? '')) {
      out.push(`${args[i].startsWith('--') ? args[i] : `--${Object.entries(config.options!).find(([, o]) => `-${o.short}` === args[i])![0]}`}=${args[i + 1]}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/**
 * A `--name N` flag that must be a positive integer, written in decimal digits (not `0x10`, `1e1`
 * or ` 3`) and at most `max` (undefined when absent).
 */
export function positiveInt(name: string, v: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const digits = /^[0-9]+$/.test(v);
  const n = digits ? Number(v) : NaN;
  if (!digits || n < 1) throw new UsageError(`--${name} must be a positive integer in decimal digits, got "${clip(v, 80)}"`);
  if (!(n <= max)) throw new UsageError(`--${name} must be at most ${max}, got ${clip(v, 80)}`);
  return n;
}

/**
 * `--top K` against the model: K above its class count was capped without a word (the library
 * refuses it), and on a features-only model it did nothing; both are usage errors naming the
 * model and what to pass.
 */
export function checkTop(top: number, given: boolean, modelPath: string, numClasses: number): void {
  if (!given) return;
  if (numClasses === 0) throw new UsageError(`--top ${top}: ${modelPath} has no classifier (num_classes 0), so there are no classes to rank; leave --top out`);
  if (top > numClasses) throw new UsageError(`--top ${top}: ${modelPath} has ${numClasses} class${numClasses === 1 ? '' : 'es'}; pass --top ${numClasses} or less`);
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
