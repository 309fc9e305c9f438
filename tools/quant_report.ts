/**
 * What int8 and q4 weights cost in logits, in classes and in load time (issue 21; results in
 * BENCHMARKS.md, "Quantised weights: logit error, photos, load in Chromium"):
 *
 *   a. Golden fixtures (test/fixtures: the ViT-S/16-sized generated/vit_s16, tiny, tiny_mean,
 *      quick_gelu, the families with a classifier, the checkpoint layouts): each converted by
 *      `webvit convert --dtype f32|f16|int8|q4` (dist/cli.js), loaded in Node (Dawn) and run on
 *      the fixture's input; max and mean |logit − f32 logit| per dtype (the f32 file of the same
 *      fixture is the reference), top-1 agreement with f32, and f32's own error against the
 *      float64 PyTorch golden for scale.
 *   b. Photos (the photographs of python3-skimage's data folder where it is installed, else the photos derived from it
 *      in test/fixtures/preprocess*\/images) through `webvit classify --model FILE --top 5 --json`
 *      with the ViT-S/16-sized fixture's files (1000 classes): int8, q4 (and f16) top-5 against
 *      f32's: top-1 equal, top-5 overlap.
 *   c. Load in Chromium (SwiftShader, page mode, a fresh browser context each: empty Cache Storage,
 *      no tuning cached): createImageClassifier on a model served from 127.0.0.1, then the first
 *      classification; the bundled model and the ViT-S/16-sized fixture in f32, int8 and q4.
 *      A local server downloads at memory speed: the file sizes over a 50 Mbit/s link are added
 *      as arithmetic, not measured.
 *
 *     npm run build && node tools/run_ts.mjs tools/quant_report.ts [--skip-fixtures] [--skip-photos] [--skip-chromium]
 *
 * One run of each: on a shared machine the times are indicative only.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../scripts/static-server.mjs';
import { getDevice, loadModelFile } from '../src/node.js';

const REPO = process.cwd();
const CLI = join(REPO, 'dist', 'cli.js');
const args = process.argv.slice(2);
const TMP = mkdtempSync(join(tmpdir(), 'webvit-quant-report-'));
const DTYPES = ['f32', 'f16', 'int8', 'q4'] as const;
type Dtype = (typeof DTYPES)[number];
const FIX = join(REPO, 'test', 'fixtures');
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

if (!existsSync(CLI) || !existsSync(join(REPO, 'dist', 'webvit.browser.js'))) throw new Error('dist/ is incomplete: run `npm run build` first');
console.log(`quant_report: ${new Date().toISOString()}, build ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()}, load average ${load()}`);

/** Converts a fixture's checkpoint to each dtype; returns the files. */
function convert(name: string, dir: string, src: string, extra: string[]): Record<Dtype, string> {
  const out = {} as Record<Dtype, string>;
  for (const d of DTYPES) {
    out[d] = join(TMP, `${name.replace(/\//g, '_')}.${d}.safetensors`);
    execFileSync(process.execPath, [CLI, 'convert', src, '-o', out[d], '--dtype', d, ...extra], { cwd: dir, stdio: 'pipe' });
  }
  return out;
}

type Golden = { batch: number; logits: number[][]; convert_args?: string[]; checkpoint?: string };
const fixtures: string[] = ['generated/vit_s16', 'tiny', 'tiny_mean', 'quick_gelu'];
for (const group of ['families', 'layouts']) {
  for (const n of readdirSync(join(FIX, group)).sort()) {
    const g = join(FIX, group, n, 'golden.json');
    const logits = existsSync(g) ? (JSON.parse(readFileSync(g, 'utf8')) as Golden).logits : undefined;
    if (Array.isArray(logits) && logits.flat().length > 0) fixtures.push(`${group}/${n}`); // a classifier's logits
  }
}

const files = new Map<string, Record<Dtype, string>>();
const vitS16 = () => files.get('generated/vit_s16') ?? files.set('generated/vit_s16', convert('generated/vit_s16', REPO, join(FIX, 'generated', 'vit_s16', 'model.safetensors'), [])).get('generated/vit_s16')!;
/** The bundled model in each dtype: its f32 file as shipped, the others made by the converter. */
const bundledFiles = () => {
  if (!files.has('bundled')) {
    const src = join(REPO, 'models', 'fashion-mnist', 'model.safetensors');
    const f = convert('bundled', REPO, src, []);
    copyFileSync(src, f.f32);
    files.set('bundled', f);
  }
  return files.get('bundled')!;
};
const fmt = (x: number) => (x === 0 ? '0' : x < 1e-3 ? x.toExponential(2) : x.toPrecision(3));

if (!args.includes('--skip-fixtures')) {
  const device = await getDevice();
  console.log('\n## a. Logits against f32 on the golden fixtures (Node, Dawn)\n');
  console.log('| fixture | images × classes | max abs f32 logit | f32 vs PyTorch f64: max abs diff | f16: max / mean abs diff | int8: max / mean | q4: max / mean | top-1 equal to f32 (f16 / int8 / q4) | smallest f32 top-1 − top-2 logit gap |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of fixtures) {
    const dir = join(FIX, name);
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
    // A layout fixture names its checkpoint (a folder under layouts/, the flags' files relative to layouts/).
    const layout = name.startsWith('layouts/');
    const ck = layout ? join(FIX, 'layouts', golden.checkpoint!) : dir;
    const src = existsSync(join(ck, 'model.safetensors')) ? join(ck, 'model.safetensors') : join(ck, 'model.safetensors.index.json');
    let f: Record<Dtype, string>;
    try {
      f = convert(name, layout ? join(FIX, 'layouts') : dir, src, golden.convert_args ?? []);
    } catch (e) {
      console.log(`| ${name} | not converted: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0]} |`);
      continue;
    }
    files.set(name, f);
    const raw = readFileSync(join(dir, 'input.bin'));
    const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const logits = {} as Record<Dtype, Float32Array>;
    let classes = 0;
    for (const d of DTYPES) {
      const m = await loadModelFile(device, f[d], { batch: golden.batch, label: `${name}.${d}` });
      const r = await m.forward(input, { batch: golden.batch });
      logits[d] = r.logits;
      classes = r.numClasses;
      await m.dispose();
    }
    const ref = logits.f32;
    const gold = golden.logits.flat();
    let maxRef = 0, gErr = 0;
    ref.forEach((v, i) => ((maxRef = Math.max(maxRef, Math.abs(v))), (gErr = Math.max(gErr, Math.abs(v - gold[i])))));
    const argmax = (l: Float32Array, b: number) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if (l[b * classes + c] > l[b * classes + best]) best = c;
      return best;
    };
    const cells = (['f16', 'int8', 'q4'] as const).map((d) => {
      let mx = 0, sum = 0;
      logits[d].forEach((v, i) => {
        const e = Math.abs(v - ref[i]);
        mx = Math.max(mx, e);
        sum += e;
      });
      return `${fmt(mx)} / ${fmt(sum / ref.length)}`;
    });
    // The f32 model's smallest gap between its top-1 and top-2 logits over the images: a flip needs an error that size.
    let margin = Infinity;
    for (let b = 0; b < golden.batch; b++) {
      const row = Array.from(ref.subarray(b * classes, (b + 1) * classes)).sort((x, y) => y - x);
      margin = Math.min(margin, row[0] - row[1]);
    }
    const top1 = (['f16', 'int8', 'q4'] as const).map((d) => Array.from({ length: golden.batch }, (_, b) => argmax(logits[d], b) === argmax(ref, b)).filter(Boolean).length);
    console.log(`| ${name} | ${golden.batch} × ${classes} | ${fmt(maxRef)} | ${fmt(gErr)} | ${cells.join(' | ')} | ${top1.map((n) => `${n}/${golden.batch}`).join(' / ')} | ${fmt(margin)} |`);
  }
}

/** The photographs of skimage's data folder (not its test patterns, drawings or truncated files). */
const SK_PHOTOS = ['astronaut.png', 'brick.png', 'camera.png', 'cell.png', 'chelsea.png', 'clock_motion.png', 'coffee.png', 'coins.png', 'grass.png', 'gravel.png', 'hubble_deep_field.jpg', 'ihc.png', 'microaneurysms.png', 'moon.png', 'motorcycle_left.png', 'motorcycle_right.png', 'retina.jpg', 'rocket.jpg', 'text.png'];

if (!args.includes('--skip-photos')) {
  const SK = '/usr/lib/python3/dist-packages/skimage/data';
  const photos = existsSync(SK)
    ? SK_PHOTOS.filter((f) => existsSync(join(SK, f))).map((f) => join(SK, f))
    : ['preprocess', 'preprocess_hf'].flatMap((g) => readdirSync(join(FIX, g, 'images')).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().map((f) => join(FIX, g, 'images', f)));
  const table = (label: string, f: Record<Dtype, string>) => {
    const top = {} as Record<Dtype, Map<string, { index: number; p: number }[]>>;
    for (const d of DTYPES) {
      const out = (() => {
        try {
          return execFileSync(process.execPath, [CLI, 'classify', ...photos, '--model', f[d], '--top', '5', '--json'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }).toString();
        } catch (e) {
          return String((e as { stdout?: Buffer }).stdout ?? ''); // exit code 1: some image failed, the rest are there
        }
      })();
      top[d] = new Map();
      for (const line of out.split('\n').filter(Boolean)) {
        const r = JSON.parse(line) as { file: string; top?: { index: number; p: number }[] };
        if (r.top) top[d].set(r.file, r.top);
      }
    }
    const shown = [...top.f32.keys()];
    console.log(`\n## b. ${shown.length} photos from ${existsSync(SK) ? SK : 'test/fixtures/preprocess*/images'} through \`webvit classify --top 5 --json\`, ${label}\n`);
    console.log('| photo | f32 top-1 (p) | f16: top-1 equal, top-5 overlap | int8 | q4 | max abs diff of the top-5 p, int8 / q4 |');
    console.log('| --- | --- | --- | --- | --- | ---: |');
    const totals = { f16: [0, 0], int8: [0, 0], q4: [0, 0] };
    for (const file of shown) {
      const ref = top.f32.get(file)!;
      const cell = (d: 'f16' | 'int8' | 'q4') => {
        const t = top[d].get(file);
        if (!t) return 'failed';
        const eq = t[0].index === ref[0].index;
        const overlap = t.filter((c) => ref.some((r) => r.index === c.index)).length;
        totals[d][0] += eq ? 1 : 0;
        totals[d][1] += overlap;
        return `${eq ? 'yes' : 'no'}, ${overlap}/5`;
      };
      const pd = (d: 'int8' | 'q4') => {
        const t = top[d].get(file);
        return t ? Math.max(...ref.map((r) => Math.abs(r.p - (t.find((c) => c.index === r.index)?.p ?? 0)))) : NaN;
      };
      console.log(`| ${file.split('/').pop()} | ${ref[0].index} (${ref[0].p.toFixed(4)}) | ${cell('f16')} | ${cell('int8')} | ${cell('q4')} | ${fmt(pd('int8'))} / ${fmt(pd('q4'))} |`);
    }
    const n = shown.length;
    console.log(`| **all ${n}** | | ${(['f16', 'int8', 'q4'] as const).map((d) => `${totals[d][0]}/${n} top-1, ${totals[d][1]}/${5 * n} top-5`).join(' | ')} | |`);
  };
  table('the ViT-S/16-sized fixture (1000 classes, untrained)', vitS16());
  table('the bundled Fashion-MNIST model (10 classes, trained)', bundledFiles());
  console.log(`(load average after: ${load()})`);
}

if (!args.includes('--skip-chromium')) {
  const models: [string, Record<string, string>][] = [
    ['bundled (Fashion-MNIST)', bundledFiles()],
    ['ViT-S/16-sized fixture', vitS16()],
  ];
  const server = await startStaticServer({
    page: join(REPO, 'test', 'browser', 'api_page.html'),
    mounts: [['/dist/', join(REPO, 'dist')], ['/examples/', join(REPO, 'examples')], ['/gen/', TMP]],
  });
  const browser = await chromium.launch({
    executablePath: process.env.WEBVIT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 60_000,
  });
  console.log(`\n## c. Load in Chromium (SwiftShader, page mode, fresh context each), server ${server.url}\n`);
  console.log('| model | dtype | file MB | create (download, check, upload, compile) ms | first classify ms | second classify ms | to the first result ms | the file over 50 Mbit/s (computed) s | load average |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const example = readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.png')).sort()[0];
  const profiles: { label: string; d: string; method: string; totalMs: number; byKernel: Record<string, number> }[] = [];
  try {
    for (const [label, fs] of models) {
      for (const d of ['f32', 'int8', 'q4']) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${server.url}/`);
        await page.waitForFunction(() => (window as unknown as { apiReady?: boolean }).apiReady === true, undefined, { timeout: 60_000 });
        const call = (fn: string, ...a: unknown[]) => page.evaluate(([f, x]) => (window as unknown as Record<string, (...y: unknown[]) => Promise<unknown>>)[f as string](...(x as unknown[])), [fn, a] as const) as Promise<Record<string, unknown>>;
        const c = await call('apiCreate', { model: `/gen/${basename(fs[d])}` });
        if ('error' in c) throw new Error(`${label} ${d}: ${JSON.stringify(c.error)}`);
        const r = await call('apiClassify', [example], 'url');
        if ('error' in r) throw new Error(`${label} ${d}: ${JSON.stringify(r.error)}`);
        // The same call again: what the first one paid once (pipelines, plans) against what every call pays.
        const r2 = await call('apiClassify', [example], 'url');
        if ('error' in r2) throw new Error(`${label} ${d}: ${JSON.stringify(r2.error)}`);
        const bytes = statSync(fs[d]).size;
        const create = c.ms as number, first = r.ms as number, second = r2.ms as number;
        // Where a warm classification's GPU time goes, by kernel (the page's profile()).
        const pr = await call('apiProfileKernels', example);
        if ('error' in pr) throw new Error(`${label} ${d}: ${JSON.stringify(pr.error)}`);
        profiles.push({ label, d, method: String(pr.method), totalMs: pr.totalMs as number, byKernel: pr.byKernel as Record<string, number> });
        console.log(`| ${label} | ${d} | ${(bytes / 1e6).toFixed(2)} | ${create.toFixed(0)} | ${first.toFixed(0)} | ${second.toFixed(0)} | **${(create + first).toFixed(0)}** | ${((bytes * 8) / 50e6).toFixed(2)} | ${load()} |`);
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  console.log('\n**A warm classification by kernel** (the page\'s profile(), one run; the five largest kernels, ms):\n');
  console.log('| model | dtype | timing | forward ms | largest kernels, ms |');
  console.log('| --- | --- | --- | ---: | --- |');
  for (const p of profiles) {
    const top = Object.entries(p.byKernel).sort((a, b) => b[1] - a[1]).slice(0, 5);
    console.log(`| ${p.label} | ${p.d} | ${p.method} | ${p.totalMs.toFixed(0)} | ${top.map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(', ')} |`);
  }
}
rmSync(TMP, { recursive: true, force: true });
process.exit(0);
