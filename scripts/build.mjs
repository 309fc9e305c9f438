// Builds the library (a browser ESM bundle and a Node entry) and the CLI with esbuild.
//   node scripts/build.mjs            development: external source maps (dist/*.js.map)
//   node scripts/build.mjs --release  no source maps, old ones removed (npm pack runs this: the
//                                     maps were 2.3 MB of a 3.3 MB package and help no user)
// Both also write the TypeScript declarations users get (dist/types, package.json "types") with
// `tsc -p tsconfig.types.json`, alongside the bundles.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { wgslMinify } from './wgsl-minify.mjs';

// Chunks from an earlier build would pile up (their names are content hashes).
if (existsSync('dist')) for (const f of readdirSync('dist').filter((n) => n.startsWith('chunk-') || n.startsWith('webvit.browser-'))) rmSync(`dist/${f}`);

const release = process.argv.includes('--release');
const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: !release, logLevel: 'warning', legalComments: 'none' };

// Declarations: made afresh, so none outlives the module it described. tsc writes them even when
// the code has type errors; a development build then only says so (`npm run typecheck` is the
// gate, and a half-edited tree must still build), a release build fails.
rmSync('dist/types', { recursive: true, force: true });
const declarations = new Promise((resolve, reject) => {
  const tsc = spawn(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.types.json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  tsc.stdout.on('data', (d) => (out += d));
  tsc.on('error', reject);
  tsc.on('exit', (code) => {
    if (code === 0) return resolve(webgpuTypeEntries());
    const errors = (out.match(/error TS\d+/g) ?? []).length;
    if (!release && existsSync('dist/types/index.d.ts') && existsSync('dist/types/node.d.ts')) {
      console.warn(`build: dist/types written, but tsc found ${errors} type error(s); see npm run typecheck`);
      return resolve(webgpuTypeEntries());
    }
    process.stderr.write(out);
    reject(new Error(`tsc -p tsconfig.types.json (the declarations in dist/types) failed with exit code ${code}`));
  });
});

/**
 * The declarations' entries for TypeScript before 6.0, whose lib "DOM" has no WebGPU types: the
 * same declarations with a reference to @webgpu/types (a dependency of webvit). TypeScript 6 and
 * later declare WebGPU in lib "DOM", and @webgpu/types beside it would be declared twice, so
 * package.json's `types@>=6.0` conditions name the plain entries (docs/packaging.md).
 */
function webgpuTypeEntries() {
  for (const entry of ['index', 'node']) {
    writeFileSync(
      `dist/types/${entry}.webgpu.d.ts`,
      `// For TypeScript < 6.0: WebGPU's types from @webgpu/types (from 6.0 on, lib "DOM" has them).\n/// <reference types="@webgpu/types" />\nexport * from './${entry}.js';\n`,
    );
  }
}

await Promise.all([
  declarations,
  // Browser: no Node modules; `webgpu` (Dawn) is never imported from the browser entry. Minified
  // (what a page downloads; the source maps of a development build map it back): its size is held
  // to a budget by test/package/bundle_size.test.ts. The kernels' WGSL loses its comments and
  // indentation (scripts/wgsl-minify.mjs).
  // Split: what only a page that explains needs (ViTModel.explain's plan and kernels, imported on
  // its first call) is a chunk of its own, dist/webvit.browser-HASH.js, which the budget leaves out.
  build({ ...common, minify: true, plugins: [wgslMinify], entryPoints: { 'webvit.browser': 'src/index.ts' }, outdir: 'dist', splitting: true, chunkNames: 'webvit.browser-[hash]', platform: 'browser' }),
  // The web API's worker (createImageClassifier({ worker: true })), loaded from next to the bundle.
  build({ ...common, minify: true, plugins: [wgslMinify], entryPoints: ['src/web/worker.ts'], outfile: 'dist/webvit.worker.js', platform: 'browser' }),
  // Node library: Dawn stays an external dependency (a native addon). `ignoreAnnotations` here and
  // in the CLI: package.json says `sideEffects: false` for the package's users' bundlers, and
  // esbuild would apply it to webvit's own sources too, dropping the CLI's side-effect imports
  // (src/cli/orphan_guard.ts).
  build({ ...common, entryPoints: ['src/node.ts'], outfile: 'dist/node.js', platform: 'node', packages: 'external', ignoreAnnotations: true }),
  // The CLI; `webvit bench` loads the benchmark harness (bench/) with a dynamic import, which
  // esbuild splits into chunks of their own (dist/chunk-*.js): dist/cli.js does not carry it.
  build({
    ...common,
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'chunk-[hash]',
    platform: 'node',
    packages: 'external',
    ignoreAnnotations: true,
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
chmodSync('dist/cli.js', 0o755);
if (release) for (const f of readdirSync('dist')) if (f.endsWith('.map')) rmSync(`dist/${f}`);
