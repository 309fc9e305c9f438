import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a build script in plain JavaScript, without declarations
import { minifyWgslTemplates, wgslMinify } from '../../scripts/wgsl-minify.mjs';
import { wgslCorpus } from '../runtime/shader_corpus.js';

// The browser bundles' WGSL is minified at build time (scripts/wgsl-minify.mjs): comments and
// indentation go. A mistake there would break kernels only in browsers, so every kernel source
// webvit can generate (the shader corpus: every op, variant, test shape and preset graph) is made
// twice, from the sources as written and from the sources as the browser build loads them, and
// must give the same WGSL tokens; and the minifier's own cases are checked on small inputs.
// (Comments inside JavaScript strings within `${…}` stay: the minifier does not guess which
// strings are WGSL.)
const ROOT = join(import.meta.dirname, '..', '..');

/** WGSL as tokens: comments removed, split on whitespace (what a WGSL parser sees). */
const tokens = (wgsl: string): string[] =>
  wgsl
    .replace(/\/\/[^\n]*/g, '')
    .split(/\s+/)
    .filter((t) => t.length > 0);

describe('WGSL minifier', () => {
  it('removes comments and indentation of marked template literals only, keeping ${…} and escapes', () => {
    const src = [
      'const a = `  // kept: not marked\n  x`;',
      'const b = /* wgsl */ `',
      '  // a comment line',
      '  let x = ${n}u;  // trailing comment',
      '',
      '  // a comment across an expression: ${n} rows',
      '  let y = ${cond ? `a${m}` : "}"} + 1; \\` ',
      '`;',
    ].join('\n');
    const out = minifyWgslTemplates(src);
    expect(out).toContain('const a = `  // kept: not marked\n  x`;');
    expect(out).toContain('const b = /* wgsl */ `\nlet x = ${n}u;\nlet y = ${cond ? `a${m}` : "}"} + 1; \\`\n`;');
    // The expression inside the comment is gone with it: it was part of the comment's text.
    expect(out.split('${n}').length).toBe(2);
  });

  it('keeps what a template spliced mid-line needs: blanks at its ends, a comment open at its end', () => {
    // `} else ` + `if …`: the trailing blank separates tokens once spliced.
    expect(minifyWgslTemplates('x = /* wgsl */ `a ${c ? `} else ` : ``}b`;')).toBe('x = /* wgsl */ `a ${c ? `} else ` : ``}b`;');
    // Indentation after a newline goes, blanks at the very start stay.
    expect(minifyWgslTemplates('x = /* wgsl */ ` a;\n    b;  \n\n   c; `;')).toBe('x = /* wgsl */ ` a;\nb;\nc; `;');
    // A comment still open at the end would hide the rest of the line it is spliced into: kept.
    expect(minifyWgslTemplates('x = /* wgsl */ `a; // note ${n}`;')).toBe('x = /* wgsl */ `a; // note ${n}`;');
  });

  it('refuses an unterminated template instead of writing a broken bundle', () => {
    expect(() => minifyWgslTemplates('const b = /* wgsl */ `let x = 1;')).toThrow(/unterminated/);
  });

  it('every kernel source webvit generates has the same tokens from the minified build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webvit-wgsl-'));
    try {
      const r = await build({
        entryPoints: [join(ROOT, 'test', 'runtime', 'shader_corpus.ts')],
        absWorkingDir: ROOT,
        bundle: true,
        format: 'esm',
        platform: 'node',
        packages: 'external',
        plugins: [wgslMinify],
        write: false,
        outfile: join(dir, 'corpus.mjs'),
        logLevel: 'silent',
      });
      writeFileSync(join(dir, 'corpus.mjs'), r.outputFiles[0].contents);
      const minified: typeof wgslCorpus = (await import(pathToFileURL(join(dir, 'corpus.mjs')).href)).wgslCorpus;
      const asWritten = new Map((await wgslCorpus()).map((s) => [s.key, s.code]));
      const small = await minified();
      expect(small.length).toBe(asWritten.size);
      let before = 0;
      let after = 0;
      for (const s of small) {
        const code = asWritten.get(s.key);
        expect(code, `${s.kernel}: key ${s.key} made by one build only`).toBeDefined();
        expect(tokens(s.code), `${s.kernel} (${s.key})`).toEqual(tokens(code!));
        before += code!.length;
        after += s.code.length;
      }
      console.log(`${small.length} kernel sources: ${before} B of WGSL as written, ${after} B minified`);
      expect(after).toBeLessThan(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
