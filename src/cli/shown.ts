/**
 * Text from files (labels, file names, messages quoting them) as the CLI prints it. A label or a
 * file name is somebody else's text: printed raw, an escape sequence in it clears the screen or
 * recolours it, a carriage return or a bidi override makes a line read as a different result.
 * Every command prints such text through these three functions; which characters are escaped,
 * and why, is UNSAFE_CHAR (src/model/labels.ts).
 */
import { clip } from '../errors.js';
import { INVISIBLE_NON_SPACE, isBlank, UNSAFE_CHAR } from '../model/labels.js';

const UNSAFE_ALL = new RegExp(UNSAFE_CHAR.source, 'g');
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
const escape = (c: string) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A label or file name on a line of human output: as it is, or JSON-quoted with its unsafe
 * characters escaped when it holds any (`"bag\u001b[2J"`), and quoted when it is empty or blank
 * (`""`, `"   "`, `"\u200b"`: it would print as nothing), its invisible characters escaped.
 */
export function shown(text: string): string {
  if (isBlank(text)) return JSON.stringify(text).replace(INVISIBLE_NON_SPACE, (c) => `\\u${c.length > 1 ? `{${c.codePointAt(0)!.toString(16)}}` : c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (!UNSAFE_CHAR.test(text)) return text;
  // JSON.stringify escapes C0 controls, quotes and backslashes; the rest of UNSAFE_CHAR it leaves.
  return JSON.stringify(text).replace(UNSAFE_ALL, escape);
}

/** Longest label printed whole in human output (JSON output keeps every label whole). */
export const MAX_LABEL = 200;

/** A label on a line of human output: `shown`, its head and tail kept when it is longer than MAX_LABEL. */
export const shownLabel = (label: string): string => shown(clip(label, MAX_LABEL));

/** A message (an error that quotes names, a converter note) with its unsafe characters escaped in place. */
export function printable(message: string): string {
  return message.replace(UNSAFE_ALL, escape);
}

/**
 * Longest message the CLI prints on one line, escapes included: the head and the tail of a longer
 * one are kept (`clip`), so a path of PATH_MAX characters still shows its start and its reason.
 */
export const MAX_MESSAGE = 4000;

/**
 * A message as one bounded stderr line: clipped (`clip`, which counts the original's characters),
 * then escaped (`printable`). An escape is up to 6 characters for 1, so a message dense with
 * unsafe characters is clipped shorter until its escaped form fits MAX_MESSAGE.
 */
export function messageLine(message: string): string {
  for (let budget = MAX_MESSAGE; ; budget >>= 1) {
    const line = printable(clip(message, budget));
    if (line.length <= MAX_MESSAGE) return line;
  }
}

/**
 * JSON for stdout: JSON.stringify's text with the unsafe characters it leaves raw (C1 controls,
 * U+2028/U+2029, bidi overrides) written as \u escapes, so it parses to the same value.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_ALL, escape);
}
