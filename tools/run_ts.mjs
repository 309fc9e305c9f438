#!/usr/bin/env node
// Runs a TypeScript tool (tools/*.ts) with Node: bundled by esbuild (npm packages left to Node)
// into a temporary file under node_modules/.cache (so that Node finds the packages from there),
// then imported. Usage: node tools/run_ts.mjs tools/x.ts [args...]
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node tools/run_ts.mjs FILE.ts [args...]');
  process.exit(2);
}
const cache = join(process.cwd(), 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const dir = mkdtempSync(join(cache, 'webvit-run-ts-'));
const out = join(dir, 'main.mjs');
try {
  await build({ entryPoints: [resolve(entry)], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'warning' });
  process.argv = [process.argv[0], resolve(entry), ...rest];
  await import(pathToFileURL(out).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
