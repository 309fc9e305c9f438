// Builds the library (a browser ESM bundle and a Node entry) and the CLI with esbuild.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning', legalComments: 'none' };

await Promise.all([
  // Browser: no Node modules; `webgpu` (Dawn) is never imported from the browser entry.
  build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/webvit.browser.js', platform: 'browser' }),
  // Node library: Dawn stays an external dependency (a native addon).
  build({ ...common, entryPoints: ['src/node.ts'], outfile: 'dist/node.js', platform: 'node', packages: 'external' }),
  build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    platform: 'node',
    packages: 'external',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
chmodSync('dist/cli.js', 0o755);
