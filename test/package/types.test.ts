import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOffline, pack, type PackResult } from '../helpers/offline_install.js';

// The package ships TypeScript declarations (dist/types, made by scripts/build.mjs with
// `tsc -p tsconfig.types.json`) and package.json points at them. Here the package is packed and
// installed into an empty project outside the checkout, as an app gets it; package.json's "types"
// (every export condition, every TypeScript version) must name files it ships, and two small
// apps must compile against it: declarations that name a module or a type they do not ship fail
// here. The apps name no @webgpu/types themselves: for TypeScript < 6.0 the package's entries
// reference it (a dependency of webvit); from 6.0 on lib "DOM" declares WebGPU.

const ROOT = join(import.meta.dirname, '..', '..');

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  types?: string;
  main: string;
  files: string[];
  exports: Record<string, Record<string, unknown>>;
};
const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.types.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: { outDir: string } };


/** Every `types` path in package.json (top level and each exports condition), with where it is. */
function typesPaths(): [string, string][] {
  const found: [string, string][] = pkg.types ? [['types', pkg.types]] : [];
  const walk = (where: string, v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    const entries = Object.entries(v);
    for (const [k, w] of entries) {
      if ((k === 'types' || k.startsWith('types@')) && typeof w === 'string') found.push([`${where} › ${k}`, w]);
      else walk(`${where} › ${k}`, w);
    }
    // TypeScript takes the first condition it knows: "types" must come before "default".
    const keys = entries.map(([k]) => k);
    if (keys.includes('types') && keys.includes('default')) expect(keys.indexOf('types'), `${where}: "types" before "default"`).toBeLessThan(keys.indexOf('default'));
  };
  walk('exports', pkg.exports);
  return found;
}

let packed: PackResult;
let app: string;
const consumerDirs: string[] = [];
beforeAll(() => {
  // Outside the checkout, so that nothing resolves from the repository's node_modules by accident.
  const dir = mkdtempSync(join(tmpdir(), 'webvit-types-consumer-'));
  consumerDirs.push(dir);
  packed = pack(ROOT, dir); // its prepack builds dist/ (and dist/types) for release
  app = join(dir, 'app');
  mkdirSync(app);
  installOffline(app, packed, pkg);
  writeApps(app);
}, 300_000);
afterAll(() => consumerDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('TypeScript declarations', () => {
  it('package.json points "types" (top level and every export, each TypeScript version) at declarations the package ships', () => {
    const outDir = tsconfig.compilerOptions.outDir.replace(/\/$/, '');
    const paths = typesPaths();
    expect(paths.map(([w]) => w)).toEqual(
      expect.arrayContaining(['types', 'exports › . › node › types', 'exports › . › node › types@>=6.0', 'exports › . › browser › types', 'exports › . › browser › types@>=6.0', 'exports › . › types', 'exports › ./browser › types']),
    );
    const shipped = packed.files.map((f) => f.path);
    for (const [where, p] of paths) {
      const rel = p.replace(/^\.\//, '');
      expect(rel.startsWith(`${outDir}/`), `${where} = ${p} is under ${outDir}/`).toBe(true);
      expect(shipped, `${where} = ${p} is in the package`).toContain(rel);
    }
    // Before 6.0 the entries bring @webgpu/types (a dependency); from 6.0 on, lib "DOM" has WebGPU.
    expect(readFileSync(join(app, 'node_modules', 'webvit', 'dist', 'types', 'index.webgpu.d.ts'), 'utf8')).toContain('/// <reference types="@webgpu/types" />');
    expect(Object.keys(pkg.dependencies ?? {})).toContain('@webgpu/types');
    const dotExport = pkg.exports['.'] as Record<string, { types: string; default: string }>;
    expect(dotExport.node.types).toBe(pkg.types);
    expect(dotExport.node['types@>=6.0' as 'types']).toBe(pkg.types!.replace('.webgpu.d.ts', '.d.ts'));
    expect(dotExport.node.default.replace(/^\.\//, '')).toBe(pkg.main);
    expect(pkg.files).toContain(outDir);
  });

  // Issue 18: the packed package, installed into an empty project as an app gets it, under the
  // TypeScript 5 line and the newest major (7), strict, with and without skipLibCheck, resolved as
  // a bundler does (the browser declarations) and as Node does (the Node ones). The app names no
  // @webgpu/types itself: the package's declarations reference it (a dependency of webvit).
  for (const [compiler, tscPath] of COMPILERS) {
    for (const resolution of ['Bundler', 'NodeNext'] as const) {
      for (const skipLibCheck of [false, true]) {
        it(`an app compiles against the installed package: TypeScript ${compiler}, moduleResolution ${resolution}, strict, skipLibCheck ${skipLibCheck}`, () => {
          const config = join(app, `tsconfig.${resolution}.${skipLibCheck}.json`);
          writeFileSync(
            config,
            JSON.stringify({
              compilerOptions: {
                target: 'ES2022',
                module: resolution === 'Bundler' ? 'ESNext' : 'NodeNext',
                moduleResolution: resolution,
                lib: ['ES2022', 'DOM'],
                types: resolution === 'NodeNext' ? ['node'] : [],
                typeRoots: [join(ROOT, 'node_modules', '@types')],
                strict: true,
                skipLibCheck,
                noEmit: true,
              },
              files: [resolution === 'Bundler' ? 'web.ts' : 'node.mts'],
            }),
          );
          const r = spawnSync(process.execPath, [tscPath, '-p', config], { cwd: app, encoding: 'utf8', timeout: 240_000 });
          expect(`${r.stdout}${r.stderr}`, 'tsc output').toBe('');
          expect(r.status).toBe(0);
        });
      }
    }
  }
});

/** The compilers: the TypeScript 5 line the repository builds with, and the newest major. */
const COMPILERS: [string, string][] = [
  ['5', join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')],
  ['7', join(ROOT, 'node_modules', 'typescript-7', 'bin', 'tsc')],
];

/** The two apps: one for the browser declarations (a bundler's resolution), one for Node's. */
function writeApps(app: string): void {
  writeFileSync(
    join(app, 'web.ts'),
    `import { createImageClassifier, WebvitError, type Classification, type ImageClassifier, type ClassifierOptions } from 'webvit';
export async function run(img: HTMLImageElement, canvas: HTMLCanvasElement, texture: GPUTexture, frames: readonly ImageBitmap[]): Promise<unknown[]> {
  const options: ClassifierOptions = { model: '/models/model.safetensors', worker: true, signal: AbortSignal.timeout(60_000) };
  const clf: ImageClassifier = await createImageClassifier(options);
  const many: Classification[][] = await clf.classify([img, canvas]);
  const one: Classification[] = await clf.classify(img, { topK: 3 });
  const fromTexture: Classification[] = await clf.classify(texture);
  const readonlyMany: Classification[][] = await clf.classify(frames);
  const features: Float32Array[] = await clf.embed([img, canvas]);
  const feature: Float32Array = await clf.embed(img);
  try {
    await clf.dispose();
  } catch (e) {
    if (e instanceof WebvitError) console.log(e.code, e.message);
  }
  // @ts-expect-error: a number is not an image
  await clf.classify(5);
  return [many, one, fromTexture, readonlyMany, features, feature, one[0].label, one[0].score];
}
`,
  );
  writeFileSync(
    join(app, 'node.mts'),
    `import { readFile } from 'node:fs/promises';
import { createImageClassifier, decodeImage, getNodeDevice, loadModelFile, type Classification } from 'webvit';
const bytes = await readFile('bag.png');
const image = await decodeImage(bytes, 'bag.png');
const clf = await createImageClassifier({ model: await readFile('model.safetensors') });
const top: Classification[] = await clf.classify(image);
const device: GPUDevice = await getNodeDevice();
const model = await loadModelFile(device, 'model.safetensors');
console.log(top, model.config.hidden_size);
`,
  );
}
