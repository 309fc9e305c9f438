// Strips comments and indentation from the WGSL in webvit's sources at build time, for the
// minified browser and worker bundles: esbuild minifies the JavaScript around a template literal
// but keeps the literal's text, and the kernels' WGSL carries the comments that explain it (about
// 3 KB of the browser bundle once gzipped, against a 60 KB budget). The development sources, the
// tests and the Node build keep the WGSL as written.
//
// Only template literals marked `/* wgsl */` are touched, and the template literals inside their
// `${…}` expressions (pieces of the same WGSL). In their text (never the JavaScript around it):
// `//` comments are removed to the end of the line, lines lose their indentation and trailing
// blanks, and empty lines go. A comment that runs across a `${…}` (`// ${n} rows`) drops that
// expression too: it was part of the comment. WGSL has no string literals, so `//` outside a
// comment cannot occur. test/package/wgsl_minify.test.ts checks that every kernel webvit can
// generate has the same tokens before and after.
import { readFile } from 'node:fs/promises';

const MARK = '/* wgsl */';

/** `source` (TypeScript or JavaScript) with the text of each `/* wgsl *\/` template literal minified. */
export function minifyWgslTemplates(source) {
  let out = '';
  let at = 0;
  for (;;) {
    const m = source.indexOf(MARK, at);
    if (m < 0) return out + source.slice(at);
    let i = m + MARK.length;
    while (source[i] === ' ' || source[i] === '\n' || source[i] === '\t' || source[i] === '\r') i++;
    if (source[i] !== '`') {
      out += source.slice(at, i);
      at = i;
      continue;
    }
    out += source.slice(at, i + 1);
    const { text, end } = minifyTemplate(source, i + 1);
    out += text + '`';
    at = end + 1;
  }
}

/**
 * Minifies the template literal whose text starts at `start`; returns it and the index of its
 * closing backtick. Only whitespace a newline separates from the code is removed (a line's
 * indentation, its trailing blanks, empty lines): a template's value may be spliced into the middle
 * of another's line (`} else ${…}`), so blanks at its very start and end stay. A comment still
 * open at the template's end stays too, verbatim: spliced mid-line it would have hidden what
 * follows it on that line.
 */
function minifyTemplate(s, start) {
  let out = '';
  let line = ''; // code of the current line so far
  let comment = null; // raw text of a `//` comment open on this line, or null
  let afterNewline = false; // the current line began after a newline of this template
  let i = start;
  while (i < s.length) {
    const c = s[i];
    if (c === '`') {
      let t = afterNewline ? line.replace(/^[ \t]+/, '') : line;
      if (comment !== null) t += comment;
      return { text: out + t, end: i };
    }
    if (c === '\n') {
      let t = line.replace(/[ \t]+$/, '');
      if (afterNewline) t = t.replace(/^[ \t]+/, '');
      if (t.length > 0 || !afterNewline) out += t + '\n';
      line = '';
      comment = null;
      afterNewline = true;
      i++;
      continue;
    }
    let piece;
    if (c === '\\') {
      piece = s.slice(i, i + 2);
      i += 2;
    } else if (c === '$' && s[i + 1] === '{') {
      const end = skipExpression(s, i + 2);
      piece = comment === null ? '${' + minifyNestedTemplates(s.slice(i + 2, end)) + '}' : s.slice(i, end + 1);
      i = end + 1;
    } else if (comment === null && c === '/' && s[i + 1] === '/') {
      comment = '//';
      i += 2;
      continue;
    } else {
      piece = c;
      i++;
    }
    if (comment === null) line += piece;
    else comment += piece;
  }
  throw new Error('wgsl-minify: unterminated template literal');
}

/**
 * An expression inside a WGSL template with the template literals in it minified too: they are
 * pieces of the same WGSL (`${vec4 ? `…` : `…`}`, `${rows.map((r) => `…`).join('\n')}`).
 */
function minifyNestedTemplates(expr) {
  let out = '';
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (c === "'" || c === '"') {
      const end = skipString(expr, i);
      out += expr.slice(i, end + 1);
      i = end + 1;
    } else if (c === '`') {
      const { text, end } = minifyTemplate(expr, i + 1);
      out += '`' + text + '`';
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Index of the `}` that closes the `${` expression starting at `i` (strings, templates and braces inside it skipped). */
function skipExpression(s, i) {
  let depth = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '}' && depth === 0) return i;
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === "'" || c === '"') i = skipString(s, i);
    else if (c === '`') i = skipTemplate(s, i + 1);
    i++;
  }
  throw new Error('wgsl-minify: unterminated ${ expression');
}

function skipString(s, i) {
  const q = s[i];
  for (i++; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === q) return i;
  }
  throw new Error('wgsl-minify: unterminated string');
}

/** Index of the closing backtick of a (nested, untouched) template literal whose text starts at `i`. */
function skipTemplate(s, i) {
  for (; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '`') return i;
    else if (s[i] === '$' && s[i + 1] === '{') i = skipExpression(s, i + 2);
  }
  throw new Error('wgsl-minify: unterminated template literal');
}

/** The esbuild plugin: webvit's own TypeScript sources, loaded with their WGSL minified. */
export const wgslMinify = {
  name: 'wgsl-minify',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return { contents: text.includes(MARK) ? minifyWgslTemplates(text) : text, loader: 'ts' };
    });
  },
};
