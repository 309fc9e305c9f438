/**
 * Class labels as text that reaches a terminal: which characters a label may not hold, and the
 * checks `webvit convert` makes on every label it writes (from --labels, a Hugging Face id2label,
 * timm's label_names or a webvit file it re-encodes). The CLI escapes the same characters when it
 * prints a label or file name (src/cli/shown.ts), for weight files made elsewhere.
 * Node-side (convert and the CLI): nothing the browser bundle imports uses it.
 */

/**
 * Characters that do something to a terminal or to the line instead of showing as themselves:
 * - C0 controls U+0000–U+001F and DEL: ESC starts colour and clear-screen sequences, CR returns to
 *   the start of the line (so a label can overwrite its own line with a forged
 *   `fake.png: Bag 99.9%`), BS erases, BEL rings, LF and TAB break the one-line layout;
 * - C1 controls U+0080–U+009F: U+009B is a one-character CSI on terminals that take 8-bit controls;
 * - U+2028 and U+2029, line and paragraph separators (a line break to some viewers);
 * - the explicit bidirectional embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069:
 *   they reorder what follows them on the line, so `%9.99 gaB` can display as `Bag 99.9%`
 *   ("Trojan Source", CVE-2021-42574).
 * The bidi marks U+200E, U+200F and U+061C are not among them: right-to-left labels use them, and
 * they only affect the neutral characters next to them.
 */
export const UNSAFE_CHAR = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const NAMES: Record<number, string> = {
  0x00: 'NUL',
  0x07: 'bell',
  0x08: 'backspace',
  0x09: 'tab',
  0x0a: 'line feed',
  0x0b: 'vertical tab',
  0x0c: 'form feed',
  0x0d: 'carriage return',
  0x1b: 'escape',
  0x7f: 'delete',
  0x2028: 'line separator',
  0x2029: 'paragraph separator',
};

/** `U+001B (escape, a control character)`: an unsafe character as a message names it. */
export function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const kind =
    code < 0x20 || code === 0x7f
      ? 'a control character'
      : code <= 0x9f
        ? 'a C1 control character'
        : code === 0x2028 || code === 0x2029
          ? 'a line break'
          : 'a bidirectional override, which reorders the text after it';
  return `${hex} (${NAMES[code] ? `${NAMES[code]}, ` : ''}${kind})`;
}

/**
 * Characters that show as nothing: white space (String.prototype.trim's), zero-width characters
 * (U+200B–U+200D, U+2060–U+2064, U+FEFF), the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0),
 * the soft hyphen, the combining grapheme joiner, the Mongolian vowel separator, Khmer's
 * invisible vowels, the bidi marks, deprecated format controls, the blank Braille pattern and the
 * tag characters — and, by Unicode property, every Default_Ignorable_Code_Point (variation
 * selectors U+FE00–FE0F and U+E0100–E01EF, musical format controls U+1D173–1D17A, …) and format
 * character (Cf: the interlinear annotation controls U+FFF9–FFFB, …). Allowed in a label, but a
 * label of nothing else prints as a blank. (Double backslashes: this is a RegExp source in a string.)
 */
const INVISIBLE = '\\s\\p{Default_Ignorable_Code_Point}\\p{Cf}\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u200b-\\u200f\\u2060-\\u2064\\u206a-\\u206f\\u2800\\u3164\\ufeff\\uffa0\\u{e0000}-\\u{e007f}';
/** One invisible character that is not white space (shown.ts writes those as \u escapes). */
export const INVISIBLE_NON_SPACE = new RegExp(`(?![ ])[${INVISIBLE}]`, 'gu');

/** Whether `label` is empty or holds only invisible characters (it would print as a blank). */
export function isBlank(label: string): boolean {
  return BLANK.test(label);
}
const BLANK = new RegExp(`^[${INVISIBLE}]*$`, 'u');

/** A lone UTF-16 surrogate (half of a pair: not Unicode text; UTF-8 cannot write it). */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** What is wrong with `label` as a label, or undefined: empty, blank, or holding an unsafe character. */
export function labelProblem(label: string): string | undefined {
  if (label === '') return 'is empty';
  const m = UNSAFE_CHAR.exec(label);
  if (m) return `holds ${describeChar(m[0])} at character ${m.index + 1}`;
  const s = LONE_SURROGATE.exec(label);
  if (s) {
    const hex = s[0].charCodeAt(0).toString(16).toUpperCase();
    return `holds a lone surrogate U+${hex} at character ${s.index + 1} (half of a UTF-16 pair, as "\\u${hex.toLowerCase()}" in JSON: not Unicode text, like invalid UTF-8)`;
  }
  if (label.trim() === '') return 'is blank (only spaces)';
  if (isBlank(label)) {
    const c = label.replace(/\s/g, '').codePointAt(0)!;
    return `is blank (only spaces and invisible characters: U+${c.toString(16).toUpperCase().padStart(4, '0')} shows as nothing)`;
  }
  return undefined;
}

const RULES = 'a label is printable text: no control characters, line breaks or bidirectional overrides, no lone surrogates, and not empty or blank';

/**
 * Refuses a label list with an empty or unsafe label, naming the first one by `name(i)`
 * ("line 4", "label 3"). Labels are refused, not cleaned: a label with an escape sequence or a
 * carriage return in it is a wrong or hostile file, and a cleaned label would silently differ
 * from the one its author wrote.
 */
export function checkLabels(labels: readonly string[], name: (i: number) => string): string | undefined {
  for (let i = 0; i < labels.length; i++) {
    const why = labelProblem(labels[i]);
    if (why) return `${name(i)} ${why}${why.includes('tab') ? ' (one label per line, without ids or other columns)' : ''}; ${RULES}`;
  }
  const bytes = new TextEncoder().encode(JSON.stringify(labels)).length;
  if (bytes > MAX_LABELS_JSON) return `the ${labels.length} labels take ${bytes} bytes as JSON, above the limit of ${MAX_LABELS_JSON} (they go in the weight file's header, which readers limit to 100 MB)`;
  return undefined;
}

/**
 * Why a labels file's count may differ from the model's classes, when its lines show it (JSON, a
 * column of ids, a header line), as a clause for the message; '' when they do not.
 */
export function labelsCountHint(labels: readonly string[], classes: number): string {
  const first = labels[0] ?? '';
  if (/^\s*[[{]/.test(first)) return `; its first line starts with ${JSON.stringify(first.trim()[0])}: JSON (an id2label object or a list, as in config.json?), where webvit reads plain text`;
  const idLines = labels.filter((l) => /^\s*\d+\s*[,;:=|\s]\s*\S/.test(l)).length;
  if (idLines >= Math.max(2, labels.length / 2)) return `; ${idLines} of its lines start with a number and a separator ("0,tench"): class ids or a CSV, where webvit reads the labels alone`;
  if (labels.length === classes + 1 && /^\W*(ids?|index|labels?|names?|class(es)?|categor(y|ies))\b/i.test(first)) return `; its line 1, ${JSON.stringify(first.slice(0, 40))}, looks like a column header`;
  return '';
}

/** Largest label list, as the JSON that __metadata__["webvit.labels"] holds (1 million labels of 60 characters). */
export const MAX_LABELS_JSON = 64 * 2 ** 20;

/**
 * A labels file's bytes as labels, one per line (LF or CRLF line ends; one final line end is
 * ignored, as is a UTF-8 byte-order mark), or what is wrong with it. UTF-16 and UTF-32 files
 * (by their byte-order mark, or UTF-16 by zero bytes in its first characters) and bytes that are
 * not UTF-8 are refused by line, as are the labels `checkLabels` refuses.
 */
export function parseLabelsBytes(bytes: Uint8Array): { labels: string[] } | { problem: string } {
  const b = bytes;
  const starts = (...xs: number[]) => b.length >= xs.length && xs.every((x, i) => b[i] === x);
  if (starts(0xff, 0xfe, 0, 0) || starts(0, 0, 0xfe, 0xff)) return { problem: 'is UTF-32 (it starts with a UTF-32 byte-order mark); save it as UTF-8' };
  if (starts(0xff, 0xfe) || starts(0xfe, 0xff)) return { problem: 'is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8' };
  // UTF-16 without a mark: ASCII text has a zero byte in every other position.
  const head = b.subarray(0, 64);
  if (head.length >= 4 && head.length % 2 === 0) {
    let even = 0;
    let odd = 0;
    for (let i = 0; i < head.length; i++) if (head[i] === 0) i % 2 ? odd++ : even++;
    if (Math.max(even, odd) >= head.length / 2 - 1 && Math.min(even, odd) === 0) return { problem: 'looks like UTF-16 (every other byte is zero); save it as UTF-8' };
  }
  const bom = starts(0xef, 0xbb, 0xbf) ? 3 : 0;
  const body = b.subarray(bom);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return { problem: invalidUtf8Line(body, bom) };
  }
  if (isJsonContainer(text)) {
    return {
      problem:
        "is JSON (an id2label object or a list?), where webvit reads plain text, one label per line in class order; from a config.json: jq -r '.id2label | to_entries | sort_by(.key | tonumber) | .[].value' config.json > labels.txt",
    };
  }
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return { problem: 'holds no labels (it is empty); one label per line' };
  const problem = checkLabels(lines, (i) => `line ${i + 1}`);
  return problem ? { problem } : { labels: lines };
}

/** Whether `text` is a JSON object or array as a whole (a labels file that is JSON was read as one label per line). */
function isJsonContainer(text: string): boolean {
  if (!/^\s*[[{]/.test(text)) return false;
  try {
    return typeof JSON.parse(text) === 'object';
  } catch {
    return false;
  }
}

/** Which line of `b` (not valid UTF-8 as a whole) is not, and at which byte of the file (`b` starts at `offset`). */
function invalidUtf8Line(b: Uint8Array, offset: number): string {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (let start = 0, line = 1; start <= b.length; line++) {
    let end = b.indexOf(0x0a, start);
    if (end < 0) end = b.length;
    try {
      decoder.decode(b.subarray(start, end));
    } catch {
      let ok = start; // the first byte at which the line stops being valid UTF-8
      while (ok < end) {
        let n = 1;
        while (n <= 4 && ok + n <= end && !validUtf8(decoder, b.subarray(ok, ok + n))) n++;
        if (n > 4 || ok + n > end) break;
        ok += n;
      }
      return `line ${line} is not valid UTF-8 (byte 0x${b[ok].toString(16).padStart(2, '0')} at byte offset ${offset + ok}); save the file as UTF-8`;
    }
    start = end + 1;
  }
  return 'is not valid UTF-8; save it as UTF-8';
}

function validUtf8(decoder: TextDecoder, s: Uint8Array): boolean {
  try {
    decoder.decode(s);
    return true;
  } catch {
    return false;
  }
}
