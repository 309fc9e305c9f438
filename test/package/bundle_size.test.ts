import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a build script in plain JavaScript, without declarations
import { wgslMinify } from '../../scripts/wgsl-minify.mjs';

// The browser bundle's budget (issue 10: a drop-in for web apps): at most 60 KB minified and
// gzipped (gzip -9), weights not included (they are fetched, never bundled). The bundle is built
// here as scripts/build.mjs builds dist/webvit.browser.js (minified, the kernels' WGSL without
// comments or indentation: scripts/wgsl-minify.mjs), so the test needs no
// prior `npm run build`. On failure it prints the size and the biggest inputs from esbuild's
// metafile: what to look at first.
//
// 2026-11-30, same tree but for src/runtime/shader.ts: 378 350 B minified / 96 123 B gzipped when
// the runtime read its WGSL with wgsl_reflect (222 KB of the minified bundle); 161 917 B / 55 132 B
// with its own reader, src/runtime/shader_reflect.ts (5.9 KB minified).

const ROOT = join(import.meta.dirname, '..', '..');
// 2026-12-07: 59 324 B gzipped (178 946 B minified) with issue 17's web API hardening (which had
// brought it to 62 362 B), once the ops' test shapes and float64 references moved out of their
// definitions into src/kernels/<op>/checks.ts, which only the tests and the benchmark import.
const BUDGET = 60 * 1024;
/**
 * Third-party packages the browser bundle may carry. None today: a new one must be a small library
 * doing what the platform cannot (never a UI framework), and it counts against the budget anyway.
 */
const ALLOWED_PACKAGES: readonly string[] = [];

/** The browser build's entry, read from scripts/build.mjs so the two cannot drift apart. */
function browserEntry(): string {
  const script = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8');
  const m = /entryPoints:\s*\{\s*'webvit\.browser':\s*'([^']+)'\s*\}/.exec(script);
  if (!m) throw new Error("scripts/build.mjs: no build of dist/webvit.browser.js found as `entryPoints: { 'webvit.browser': '…' }`; update test/package/bundle_size.test.ts to read the entry where the build now names it");
  return m[1];
}

let minified: number;
let gzipped: number;
let inputs: [string, number][];
/** Every import of every output file (a bare one would need an import map or a bundler). */
let imports: { kind: string; path: string }[];
let lazy: string[];
/** The text of what loads at first, and of the chunks loaded on demand. */
let atLoadText: string;
let lazyText: string;

beforeAll(async () => {
  // As scripts/build.mjs builds it: split, so that what a page loads at first (the entry and the
  // chunks it imports statically) is measured, and a chunk loaded on demand (explain) is not.
  const r = await build({
    entryPoints: { 'webvit.browser': join(ROOT, browserEntry()) },
    absWorkingDir: ROOT,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    plugins: [wgslMinify],
    legalComments: 'none',
    write: false,
    metafile: true,
    splitting: true,
    outdir: 'bundle-size-check',
    chunkNames: 'webvit.browser-[hash]',
    logLevel: 'silent',
  });
  const outputs = r.metafile.outputs;
  const entry = Object.keys(outputs).find((k) => outputs[k].entryPoint)!;
  // The entry and what it imports statically, transitively: what loads before the first call.
  const atLoad = new Set<string>([entry]);
  for (const f of atLoad) for (const im of outputs[f].imports) if (im.kind === 'import-statement' && outputs[im.path]) atLoad.add(im.path);
  const contents = (k: string) => r.outputFiles.find((f) => f.path.endsWith(k.slice(k.lastIndexOf('/'))))!.contents;
  minified = [...atLoad].reduce((n, k) => n + contents(k).length, 0);
  gzipped = [...atLoad].reduce((n, k) => n + gzipSync(contents(k), { level: 9 }).length, 0);
  lazy = Object.keys(outputs).filter((k) => !atLoad.has(k) && k.endsWith('.js'));
  const text = (ks: string[]) => ks.map((k) => new TextDecoder().decode(contents(k))).join('\n');
  atLoadText = text([...atLoad]);
  lazyText = text(lazy);
  inputs = [...atLoad]
    .flatMap((k) => Object.entries(outputs[k].inputs).map(([path, i]) => [path, i.bytesInOutput] as [string, number]))
    .sort((a, b) => b[1] - a[1]);
  imports = Object.values(outputs).flatMap((o) => o.imports.filter((im) => !outputs[im.path]).map((im) => ({ kind: im.kind, path: im.path })));
});

const biggest = (n: number): string => inputs.slice(0, n).map(([p, b]) => `  ${String(b).padStart(7)} B  ${p}`).join('\n');

describe('browser bundle (dist/webvit.browser.js, minified)', () => {
  it(`is at most ${BUDGET} bytes gzipped (gzip -9)`, () => {
    console.log(`browser bundle at load: ${minified} B minified, ${gzipped} B gzipped (budget ${BUDGET} B); loaded on demand: ${lazy.length} chunk(s)`);
    expect(lazy.length, 'the explain chunk, loaded on demand').toBeGreaterThanOrEqual(1);
    if (gzipped > BUDGET) {
      throw new Error(`the browser bundle is ${gzipped} B gzipped (${minified} B minified), over the ${BUDGET} B budget by ${gzipped - BUDGET} B. Biggest inputs (minified bytes):\n${biggest(15)}`);
    }
  });

  it('carries no third-party package beyond the allowed ones (no framework), and no WGSL parser', () => {
    const packages = [...new Set(inputs.map(([p]) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)?.[1]).filter((p): p is string => p !== undefined))];
    expect(packages.filter((p) => !ALLOWED_PACKAGES.includes(p)), `third-party code in the browser bundle:\n${biggest(15)}`).toEqual([]);
    expect(packages).not.toContain('wgsl_reflect');
  });

  it("leaves the big_* and sgmat_* matmul builders to the on-demand chunk (src/kernels/matmul/variants.ts, LATER)", () => {
    // WGSL only those builders write: subgroup-matrix types, and the big tile's register fetch.
    for (const marker of ['subgroup_matrix_left', 'fn fetch_a(']) {
      expect(atLoadText.includes(marker), `${marker} in what a page loads first`).toBe(false);
      expect(lazyText.includes(marker), `${marker} in the on-demand chunks`).toBe(true);
    }
  });

  it('is self-contained: it imports nothing but its own chunks', () => {
    // Bare imports left in an ESM bundle would need an import map or a bundler on the user's side.
    expect(imports.map((i) => `${i.kind} ${i.path}`)).toEqual([]);
  });
});
