import { clip } from '../errors.js';

/**
 * A value from a file as error messages show it: its JSON, cut to `max` characters. Values read
 * from a file can be anything JSON.parse accepts, which includes arrays nested tens of thousands
 * deep that JSON.stringify cannot print (it overflows the stack), and megabytes of text: neither
 * may turn a refusal into a crash or a giant message.
 */
export function preview(v: unknown, max = 80): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '(an array nested too deep to show)' : '(an object nested too deep to show)';
  }
  // JSON writes ±Infinity (1e400 in a file) as null: the value is shown as it is.
  if (s === undefined || (typeof v == 'number' && !Number.isFinite(v))) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * A message made safe to print on one line: control characters (a newline in a tensor name, or
 * in the snippet of a JSON syntax error) written as escapes; and of bounded length (`clip`),
 * whatever names or values from the file it quotes.
 */
export function oneLine(message: string): string {
  // Cut before escaping (bounded work), and after: an escape is up to 6 characters.
  return clip(clip(message, 4000).replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)), 4000);
}
