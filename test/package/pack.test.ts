import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The npm package as a user gets it: `npm pack` (prepack builds dist/ without source maps), the
// tarball installed into an empty folder outside the checkout, and its `webvit classify` run there
// with no --model, so the bundled model must come from the package itself.
//
// Offline: the install uses only the npm cache that `npm ci` filled. A plain
// `npm install --offline webvit-x.tgz` cannot do that: to resolve the package's version ranges
// (`pngjs: ^7.0.0`) npm 11 asks for each dependency's full registry document, and `npm ci` caches
// only the abbreviated one (and the tarballs). So the folder gets a package-lock.json that pins the
// tarball and its dependencies at the versions and integrity hashes of this repository's lock (its
// non-dev entries), and `npm ci --offline` installs that: what a user with a lockfile gets, and no
// byte from the network.

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = ['ankle-boot', 'bag', 'dress', 'pullover', 'sneaker', 'trouser'];
const MiB = 2 ** 20;

interface PackResult {
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}
interface LockEntry {
  version?: string;
  dev?: boolean;
  [k: string]: unknown;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

let tmp: string;
let pack: PackResult;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'webvit-pack-'));
  const r = run('npm', ['pack', '--json', '--pack-destination', tmp], ROOT);
  if (r.code !== 0) throw new Error(`npm pack failed (exit ${r.code}): ${r.stderr}`);
  pack = (JSON.parse(r.stdout) as PackResult[])[0];
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('npm package', () => {
  it('holds the CLI, the library, the bundled model, the examples and the MIT LICENSE, and no source maps', () => {
    const paths = pack.files.map((f) => f.path);
    for (const p of ['package.json', 'README.md', 'LICENSE', 'dist/cli.js', 'dist/node.js', 'dist/webvit.browser.js', 'models/fashion-mnist/model.safetensors']) {
      expect(paths, p).toContain(p);
    }
    for (const e of EXAMPLES) expect(paths).toContain(`examples/${e}.png`);
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths.filter((p) => /^(src|test|bench|tools|scripts|node_modules)\//.test(p))).toEqual([]);
    // 3.3 MB with 2.3 MB of source maps and no model before; the model alone is 2.1 MB.
    // 2026-12-07: 1.6 MB without the model (issue 17's hardening: one reader and writer for files,
    // escaping, bounded messages, web option checks) against 1.5 MiB; the limit is now 2 MiB, which
    // still catches source maps. Issue 18 splits the CLI from the library and shrinks this.
    const model = pack.files.find((f) => f.path === 'models/fashion-mnist/model.safetensors')!.size;
    expect(pack.unpackedSize - model, 'everything but the model').toBeLessThan(2 * MiB);
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} webvit contributors\n/);
  });

  it('installs offline into an empty folder, and its `webvit classify` (no --model) gets the examples right', () => {
    const app = join(tmp, 'app');
    mkdirSync(app);
    // The lock: the tarball, then this repository's non-dev entries (the package's dependencies).
    const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const spec = `file:../${pack.filename}`;
    const packages: Record<string, unknown> = {
      '': { name: 'webvit-pack-test', version: '1.0.0', dependencies: { webvit: spec } },
      'node_modules/webvit': { version: pkg.version, resolved: spec, integrity: pack.integrity, license: 'MIT', dependencies: pkg.dependencies, bin: { webvit: 'dist/cli.js' } },
    };
    for (const [path, entry] of Object.entries(repoLock.packages)) if (path && !entry.dev) packages[path] = entry;
    for (const dep of Object.keys(pkg.dependencies)) expect(packages, `the lock has ${dep}`).toHaveProperty(`node_modules/${dep}`);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'webvit-pack-test', version: '1.0.0', private: true, dependencies: { webvit: spec } }, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'webvit-pack-test', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));

    const t0 = performance.now();
    const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
    const installSeconds = (performance.now() - t0) / 1000;
    expect(install.code, `npm ci --offline failed; the npm cache needs this repository's dependencies (run \`npm ci\` in the checkout first):\n${install.stderr}`).toBe(0);

    const webvit = join(app, 'node_modules', '.bin', 'webvit');
    const v = run(webvit, ['--version'], app);
    expect(v.stdout, v.stderr).toBe(`webvit ${pkg.version}\n`);

    const files = EXAMPLES.map((e) => join('node_modules', 'webvit', 'examples', `${e}.png`));
    const t1 = performance.now();
    const r = run(webvit, ['classify', ...files, '--no-tune'], app, { CI: '1', WEBVIT_CACHE_DIR: join(tmp, 'cache') });
    const classifySeconds = (performance.now() - t1) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(EXAMPLES.length);
    lines.forEach((line, i) => {
      expect(line.startsWith(`${files[i]}: `), line).toBe(true);
      const top1 = line.slice(line.indexOf(': ') + 2).split(/ \d+\.\d%/)[0];
      expect(top1.toLowerCase().replace(/[ /]/g, '-'), line).toBe(EXAMPLES[i]);
    });
    console.log(`package ${(pack.size / MiB).toFixed(2)} MiB packed, ${(pack.unpackedSize / MiB).toFixed(2)} MiB unpacked; offline install ${installSeconds.toFixed(1)} s; classify of the 6 examples ${classifySeconds.toFixed(1)} s`);
  });
});
