// Strips comments and indentation from the WGSL in webvit's sources at build time, for the
// minified browser and worker bundles: esbuild minifies the JavaScript around a template literal
// but keeps the literal's text, and the kernels' WGSL carries the comments that explain it (about
// 3 KB of the browser bundle once gzipped, against a 60 KB budget). The development sources, the
// tests and the Node build keep the WGSL as written.
//
// Only template literals marked `/* wgsl */` are touched. In their text (never inside `${…}`):
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

/** Minifies the template literal whose text starts at `start`; returns it and the index of its closing backtick. */
function minifyTemplate(s, start) {
  let out = '';
  let line = ''; // the current line of text, not yet emitted
  let inComment = false;
  const flushLine = (newline) => {
    const t = line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    if (t.length > 0) out += t + (newline ? '\n' : '');
    line = '';
  };
  let i = start;
  while (i < s.length) {
    const c = s[i];
    if (c === '`') {
      flushLine(false);
      return { text: out, end: i };
    }
    if (c === '\\') {
      if (!inComment) line += s.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (c === '$' && s[i + 1] === '{') {
      const end = skipExpression(s, i + 2);
      if (!inComment) line += s.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    if (c === '\n') {
      inComment = false;
      flushLine(true);
      i++;
      continue;
    }
    if (!inComment && c === '/' && s[i + 1] === '/') {
      inComment = true;
      i += 2;
      continue;
    }
    if (!inComment) line += c;
    i++;
  }
  throw new Error('wgsl-minify: unterminated template literal');
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
