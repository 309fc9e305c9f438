import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The package ships TypeScript declarations (dist/types, made by scripts/build.mjs with
// `tsc -p tsconfig.types.json`) and package.json points at them. Here they are emitted into a
// scratch folder, checked against package.json's "types" and every exports entry, and a small
// app compiles against them with strict checks and skipLibCheck off: declarations that name a
// module or a type they do not ship fail here. The app has @webgpu/types, as every TypeScript
// WebGPU app does: the declarations use GPUDevice and friends, which the package does not
// re-declare.

const ROOT = join(import.meta.dirname, '..', '..');
// Inside the checkout, so that node_modules (typescript, @webgpu/types) resolve as for an app.
const SCRATCH = join(ROOT, 'node_modules', '.cache', 'webvit-types-test');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  types?: string;
  main: string;
  files: string[];
  exports: Record<string, Record<string, unknown>>;
};
const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.types.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: { outDir: string } };

function tsc(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, [TSC, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Every `types` path in package.json (top level and each exports condition), with where it is. */
function typesPaths(): [string, string][] {
  const found: [string, string][] = pkg.types ? [['types', pkg.types]] : [];
  const walk = (where: string, v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    const entries = Object.entries(v);
    for (const [k, w] of entries) {
      if (k === 'types' && typeof w === 'string') found.push([`${where} › types`, w]);
      else walk(`${where} › ${k}`, w);
    }
    // TypeScript takes the first condition it knows: "types" must come before "default".
    const keys = entries.map(([k]) => k);
    if (keys.includes('types') && keys.includes('default')) expect(keys.indexOf('types'), `${where}: "types" before "default"`).toBeLessThan(keys.indexOf('default'));
  };
  walk('exports', pkg.exports);
  return found;
}

beforeAll(() => {
  rmSync(SCRATCH, { recursive: true, force: true });
  mkdirSync(SCRATCH, { recursive: true });
  const r = tsc(['-p', join(ROOT, 'tsconfig.types.json'), '--outDir', join(SCRATCH, 'types')], ROOT);
  if (r.code !== 0) throw new Error(`tsc -p tsconfig.types.json failed (exit ${r.code}):\n${r.out}`);
});
afterAll(() => rmSync(SCRATCH, { recursive: true, force: true }));

describe('TypeScript declarations', () => {
  it('package.json points "types" (top level and every export) at declarations the build emits, and ships them', () => {
    const outDir = tsconfig.compilerOptions.outDir.replace(/\/$/, '');
    const paths = typesPaths();
    expect(paths.map(([w]) => w)).toEqual(expect.arrayContaining(['types', 'exports › . › node › types', 'exports › . › browser › types', 'exports › . › types', 'exports › ./browser › types']));
    for (const [where, p] of paths) {
      const rel = p.replace(/^\.\//, '');
      expect(rel.startsWith(`${outDir}/`), `${where} = ${p} is under ${outDir}/`).toBe(true);
      expect(existsSync(join(SCRATCH, 'types', rel.slice(outDir.length + 1))), `${where} = ${p} is emitted`).toBe(true);
    }
    // The JavaScript each condition names has its declarations beside it: node.js <-> node.d.ts.
    const dotExport = pkg.exports['.'] as Record<string, { types: string; default: string }>;
    expect(dotExport.node.types).toBe(pkg.types);
    expect(dotExport.node.default.replace(/^\.\//, '')).toBe(pkg.main);
    expect(pkg.files).toContain(outDir);
  });

  it('an app compiles against them (strict, skipLibCheck off)', () => {
    const app = join(SCRATCH, 'app');
    mkdirSync(app, { recursive: true });
    writeFileSync(
      join(app, 'app.ts'),
      `import { getDevice, ViTModel, WebvitError, presetConfig, type LoadOptions, type TopClass } from '../types/index.js';
import { getNodeDevice, loadModelFile } from '../types/node.js';
export async function classify(url: string, pixels: Float32Array): Promise<TopClass[][]> {
  const device: GPUDevice = await getDevice();
  const options: LoadOptions = {};
  const model = await ViTModel.fromWeights(device, (await (await fetch(url)).arrayBuffer()) as never, options);
  void presetConfig('vit_base_patch16_224').hidden_size.toFixed();
  void [getNodeDevice, loadModelFile, model, pixels];
  try { return []; } catch (e) { if (e instanceof WebvitError) throw new Error(e.code); throw e; }
}
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: ['@webgpu/types'], strict: true, skipLibCheck: false, noEmit: true },
        files: ['app.ts'],
      }),
    );
    const r = tsc(['-p', 'tsconfig.json'], app);
    expect(r.out, 'tsc output').toBe('');
    expect(r.code).toBe(0);
  });
});
