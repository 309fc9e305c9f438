import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Installing a packed tarball into an empty folder offline, as a user with a lockfile would.
//
// A plain `npm install --offline webvit-x.tgz` cannot work from the cache that `npm ci` filled: to
// resolve version ranges (`vega: ^6.4.0`) npm 11 asks for each dependency's full registry
// document, and `npm ci` caches only the abbreviated one (and the tarballs). So the folder gets a
// package-lock.json that pins the tarball and, from this repository's lock, every package its
// dependencies reach (at the versions and integrity hashes the repository tested), and `npm ci
// --offline` installs that: no byte from the network.

const ROOT = join(import.meta.dirname, '..', '..');

export interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [k: string]: unknown;
}

/** This repository's package-lock.json entries by path ("node_modules/vega", ...). */
export function repositoryLock(): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
}

/**
 * The lock entries of `roots` and everything they depend on (dependencies, optional ones present
 * in the lock, required peers), resolved as Node does: the nearest node_modules up from the
 * dependent. Entries lose `dev` (they are the app's dependencies now).
 */
export function lockClosure(lock: Record<string, LockEntry>, roots: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const resolve = (from: string, name: string): string | undefined => {
    for (let dir = from; ; ) {
      const p = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (lock[p]) return p;
      if (!dir) return undefined;
      const i = dir.lastIndexOf('/node_modules/');
      dir = i < 0 ? '' : dir.slice(0, i);
    }
  };
  const visit = (from: string, name: string, required: boolean) => {
    const p = resolve(from, name);
    if (!p) {
      if (required) throw new Error(`the repository's lock has no ${name} (needed by ${from || 'the app'}): run \`npm install\` in the checkout`);
      return;
    }
    if (out[p]) return;
    const { dev: _dev, ...entry } = lock[p];
    out[p] = entry;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(p, d, true);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(p, d, false);
    for (const d of Object.keys(entry.peerDependencies ?? {})) visit(p, d, !entry.peerDependenciesMeta?.[d]?.optional);
  };
  for (const r of roots) visit('', r, true);
  return out;
}

export interface PackResult {
  name: string;
  version: string;
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

export function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `npm pack` of the package in `dir` into `dest` (its prepack runs). */
export function pack(dir: string, dest: string): PackResult {
  const r = run('npm', ['pack', '--json', '--pack-destination', dest], dir);
  if (r.code !== 0) throw new Error(`npm pack in ${dir} failed (exit ${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as PackResult[])[0];
}

/**
 * An app folder `app` (which exists) depending on the tarball `p` (in `app`'s parent) and
 * `extra` (names of packages in the repository's lock, e.g. `webgpu`), installed with
 * `npm ci --offline`. Returns the seconds it took; throws with npm's output on failure.
 */
export function installOffline(app: string, p: PackResult, manifest: { dependencies?: Record<string, string>; bin?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> }, extra: string[] = []): number {
  const lock = repositoryLock();
  const spec = `file:../${p.filename}`;
  const deps: Record<string, string> = { [p.name]: spec };
  for (const e of extra) deps[e] = lock[`node_modules/${e}`].version!;
  const packages: Record<string, unknown> = {
    '': { name: 'webvit-pack-test', version: '1.0.0', dependencies: deps },
    [`node_modules/${p.name}`]: { version: p.version, resolved: spec, integrity: p.integrity, license: 'MIT', dependencies: manifest.dependencies, peerDependencies: manifest.peerDependencies, peerDependenciesMeta: manifest.peerDependenciesMeta, bin: manifest.bin },
    ...lockClosure(lock, [...Object.keys(manifest.dependencies ?? {}), ...extra]),
  };
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'webvit-pack-test', version: '1.0.0', private: true, dependencies: deps }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'webvit-pack-test', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  const t0 = performance.now();
  const r = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
  if (r.code !== 0) throw new Error(`npm ci --offline failed (exit ${r.code}); the npm cache needs this repository's dependencies (run \`npm ci\` in the checkout first):\n${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

/** Bytes of the files under `dir` (symlinks not followed), as `du --apparent-size -b` counts them. */
export function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += treeBytes(p);
    else n += lstatSync(p).size;
  }
  return n;
}

/** The packages under node_modules (scoped ones as @scope/name), not counting .bin and .package-lock.json. */
export function installedPackages(app: string): string[] {
  const nm = join(app, 'node_modules');
  const names: string[] = [];
  for (const e of readdirSync(nm)) {
    if (e.startsWith('.')) continue;
    if (e.startsWith('@')) for (const s of readdirSync(join(nm, e))) names.push(`${e}/${s}`);
    else names.push(e);
  }
  return names.sort();
}
