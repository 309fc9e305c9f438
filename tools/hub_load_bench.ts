/**
 * Cold and warm load of a ViT-B/16-sized checkpoint by model id, from the local Hub stand-in
 * (test/helpers/hub_stand_in.ts), in Node and in Chromium, with the peak memory of each
 * (docs/model-ids.md; results in BENCHMARKS.md). `npm run bench:hub` (options: --skip-chromium,
 * --repeat N). The checkpoint is made here: ViTForImageClassification's layout and config at
 * ViT-B/16's sizes (hidden 768, 12 layers, 12 heads, MLP 3072, 224 px, 1000 classes), seeded
 * random weights, 346 MB of F32.
 *
 * Node: each run is a child process (`createImageClassifier({ model: ID })` from dist/node.js, then
 * one classify), which prints its times and its peak resident memory (maxRSS). Cold: every cache
 * empty (the Hub download, the conversion, the converted file written); warm: the same caches again.
 * Chromium: the page loads the id from the stand-in (another origin); the renderer process's
 * resident memory is sampled every 50 ms from /proc (ArrayBuffers live outside the JS heap, so the
 * heap alone would not show the checkpoint's bytes). Cold: Cache Storage empty; warm: a reload.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startStaticServer } from '../scripts/static-server.mjs';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors_write.js';
import { rng, randn } from '../src/kernels/sample.js';
import { startHubStandIn } from '../test/helpers/hub_stand_in.js';

const REPO = process.cwd(); // npm run bench:hub runs at the repository root
const ID = 'bench/vit-base-patch16-224';
const args = process.argv.slice(2);
const repeat = Number(args[args.indexOf('--repeat') + 1]) || 1;
const D = 768, L = 12, H = 12, F = 3072, P = 16, S = 224, C = 1000;

function checkpoint(): { files: Record<string, Uint8Array | string>; bytes: number } {
  const r = rng(7);
  const t: TensorToWrite[] = [];
  const add = (name: string, shape: number[], std = 0.02) => {
    const n = shape.reduce((a, b) => a * b, 1);
    t.push({ name, shape, data: std === 1 ? new Float32Array(n).fill(1) : std === 0 ? new Float32Array(n) : randn(r, n).map((v) => v * std) });
  };
  add('vit.embeddings.cls_token', [1, 1, D]);
  add('vit.embeddings.position_embeddings', [1, (S / P) ** 2 + 1, D]);
  add('vit.embeddings.patch_embeddings.projection.weight', [D, 3, P, P]);
  add('vit.embeddings.patch_embeddings.projection.bias', [D], 0);
  for (let i = 0; i < L; i++) {
    const p = `vit.encoder.layer.${i}.`;
    for (const q of ['query', 'key', 'value']) {
      add(`${p}attention.attention.${q}.weight`, [D, D]);
      add(`${p}attention.attention.${q}.bias`, [D], 0);
    }
    add(`${p}attention.output.dense.weight`, [D, D]);
    add(`${p}attention.output.dense.bias`, [D], 0);
    add(`${p}intermediate.dense.weight`, [F, D]);
    add(`${p}intermediate.dense.bias`, [F], 0);
    add(`${p}output.dense.weight`, [D, F]);
    add(`${p}output.dense.bias`, [D], 0);
    for (const n of ['layernorm_before', 'layernorm_after']) {
      add(`${p}${n}.weight`, [D], 1);
      add(`${p}${n}.bias`, [D], 0);
    }
  }
  add('vit.layernorm.weight', [D], 1);
  add('vit.layernorm.bias', [D], 0);
  add('classifier.weight', [C, D]);
  add('classifier.bias', [C], 0);
  const weights = writeSafetensors(t, { format: 'pt' });
  const id2label = Object.fromEntries(Array.from({ length: C }, (_, i) => [String(i), `class ${i}`]));
  const config = {
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_size: D, num_hidden_layers: L, num_attention_heads: H, intermediate_size: F,
    hidden_act: 'gelu', image_size: S, patch_size: P, num_channels: 3, qkv_bias: true, layer_norm_eps: 1e-12, id2label,
    label2id: Object.fromEntries(Object.entries(id2label).map(([k, v]) => [v, Number(k)])),
  };
  const preprocessor = { image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: S, width: S }, resample: 2, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };
  return { files: { 'config.json': JSON.stringify(config, null, 2), 'preprocessor_config.json': JSON.stringify(preprocessor, null, 2), 'model.safetensors': weights }, bytes: weights.byteLength };
}

/**
 * The JS heap plus ArrayBuffer memory of a Node job, sampled every 10 ms by a worker through the
 * inspector: its Runtime.evaluate runs on the job's thread's interrupts, so it samples inside
 * synchronous work too. Defines base and sampler (message it to stop; it answers { peak, n }).
 */
const HEAP_SAMPLER = `globalThis.__benchMem = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
const base = globalThis.__benchMem();
const sampler = new Worker(\`
const { Session } = require('inspector'); const { parentPort } = require('worker_threads');
const s = new Session(); s.connectToMainThread();
let peak = 0, n = 0, stop = false;
const tick = () => s.post('Runtime.evaluate', { expression: '__benchMem()', returnByValue: true }, (e, r) => { if (!e && r.result) { peak = Math.max(peak, r.result.value); n++; } if (!stop) setTimeout(tick, 10); });
tick();
parentPort.on('message', () => { stop = true; parentPort.postMessage({ peak, n }); });
\`, { eval: true });
`;

const NODE_JOB = `
import { Worker } from 'node:worker_threads';
import { createImageClassifier } from ${JSON.stringify(join(REPO, 'dist', 'node.js'))};
${HEAP_SAMPLER}
const t0 = performance.now();
let firstConvert;
const clf = await createImageClassifier({ model: process.env.BENCH_ID, hubUrl: process.env.BENCH_HUB, onProgress: (e) => { if (e.stage === 'convert') firstConvert ??= performance.now() - t0; } });
const loaded = performance.now() - t0;
const image = { data: new Uint8ClampedArray(256 * 256 * 4).fill(128), width: 256, height: 256 };
await clf.classify(image, { topK: 5 });
const first = performance.now() - t0;
await clf.dispose();
sampler.postMessage(0);
const heap = await new Promise((r) => sampler.once('message', r));
await sampler.terminate();
console.log(JSON.stringify({ loaded, first, convertedAt: firstConvert, maxRssMB: process.resourceUsage().maxRSS / 1024, peakHeapMB: heap.peak / 2 ** 20, heapAtStartMB: base / 2 ** 20, heapSamples: heap.n }));
`;

/** The conversion alone (hubModelFile: download, convert, write the converted file; no model load), from the sources. */
const CONVERT_JOB = `
import { Worker } from 'node:worker_threads';
import { hubModelFile } from ${JSON.stringify(join(REPO, 'src', 'hub', 'node_model.ts'))};
import { hubEnv } from ${JSON.stringify(join(REPO, 'src', 'hub', 'node_cache.ts'))};
${HEAP_SAMPLER}
const t0 = performance.now();
const env = await hubEnv();
env.hubUrl = process.env.BENCH_HUB;
await hubModelFile(process.env.BENCH_ID, { env });
const loaded = performance.now() - t0;
sampler.postMessage(0);
const heap = await new Promise((r) => sampler.once('message', r));
await sampler.terminate();
console.log(JSON.stringify({ loaded, first: loaded, maxRssMB: process.resourceUsage().maxRSS / 1024, peakHeapMB: heap.peak / 2 ** 20, heapAtStartMB: base / 2 ** 20, heapSamples: heap.n }));
`;

function convertRun(env: Record<string, string>, dir: string): Promise<{ loaded: number; maxRssMB: number; peakHeapMB: number; heapAtStartMB: number; heapSamples: number }> {
  const job = join(dir, 'convert_job.mts');
  writeFileSync(job, CONVERT_JOB);
  return new Promise((res, rej) =>
    execFile(process.execPath, [join(REPO, 'tools', 'run_ts.mjs'), job], { env: { ...process.env, ...env, CI: '1' }, maxBuffer: 1 << 24, timeout: 900_000 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`${err.message}\n${stderr}`));
      res(JSON.parse(stdout.trim().split('\n').at(-1)!));
    }),
  );
}

function nodeRun(env: Record<string, string>, dir: string): Promise<{ loaded: number; first: number; convertedAt?: number; maxRssMB: number; peakHeapMB: number; heapAtStartMB: number; heapSamples: number; wall: number }> {
  const job = join(dir, 'job.mjs');
  writeFileSync(job, NODE_JOB);
  const t0 = performance.now();
  return new Promise((res, rej) =>
    execFile(process.execPath, [job], { env: { ...process.env, ...env, CI: '1' }, maxBuffer: 1 << 24, timeout: 900_000 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`${err.message}\n${stderr}`));
      res({ ...JSON.parse(stdout.trim().split('\n').at(-1)!), wall: performance.now() - t0 });
    }),
  );
}

/**
 * The JS heap plus ArrayBuffer backing stores (CDP Runtime.getHeapUsage: usedSize +
 * backingStorageSize) of the page and of each worker it starts, sampled by the caller. Chromium
 * answers between tasks: inside one long synchronous step (the whole-file converter's) a sample
 * waits for its end, so a transient peak within it can be missed; the renderer RSS catches it.
 */
async function heapSampler(page: import('playwright-core').Page): Promise<{ sample(): Promise<number>; close(): Promise<void> }> {
  const s = await page.context().newCDPSession(page);
  const workers = new Set<string>();
  const pending = new Map<number, (u: { usedSize: number; backingStorageSize?: number } | undefined) => void>();
  let next = 1e6;
  s.on('Target.attachedToTarget', (e) => void (e.targetInfo.type === 'worker' && workers.add(e.sessionId)));
  s.on('Target.detachedFromTarget', (e) => void workers.delete(e.sessionId));
  s.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message) as { id: number; result?: { usedSize: number; backingStorageSize?: number } };
    pending.get(m.id)?.(m.result);
    pending.delete(m.id);
  });
  await s.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  const total = (u: { usedSize: number; backingStorageSize?: number } | undefined) => (u ? u.usedSize + (u.backingStorageSize ?? 0) : 0);
  return {
    async sample() {
      const parts: Promise<number>[] = [s.send('Runtime.getHeapUsage').then(total, () => 0)];
      for (const sessionId of workers) {
        parts.push(
          new Promise((res) => {
            const id = next++;
            pending.set(id, (u) => res(total(u)));
            s.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method: 'Runtime.getHeapUsage' }) }).catch(() => res(0));
          }),
        );
      }
      return (await Promise.all(parts)).reduce((a, b) => a + b, 0);
    },
    close: () => s.detach().catch(() => undefined),
  };
}

/** Resident memory (MB) of Chromium's renderer processes, summed. */
function rendererRssMB(): number {
  let kb = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

async function main(): Promise<void> {
  console.log('making a ViT-B/16-sized checkpoint (seeded random weights)...');
  const ck = checkpoint();
  const mb = ck.bytes / 2 ** 20;
  console.log(`model.safetensors: ${ck.bytes} bytes (${mb.toFixed(1)} MiB)`);
  const hub = await startHubStandIn([{ id: ID, files: ck.files, commit: 'b'.repeat(40) }], { stallMs: 120_000 });
  const tmp = mkdtempSync(join(tmpdir(), 'webvit-hubbench-'));
  const rows: string[] = [];
  try {
    for (let rep = 0; rep < repeat; rep++) {
      const dir = join(tmp, `node${rep}`);
      const env = { HF_HUB_CACHE: join(dir, 'hf'), HF_HOME: join(dir, 'home'), WEBVIT_CACHE_DIR: join(dir, 'wv'), BENCH_ID: ID, BENCH_HUB: hub.url };
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir, { recursive: true });
      const cold = await nodeRun(env, dir);
      const warm = await nodeRun(env, dir);
      const line = (what: string, r: typeof cold) =>
        `Node ${what}: createImageClassifier ${(r.loaded / 1000).toFixed(2)} s, first result ${(r.first / 1000).toFixed(2)} s, process ${(r.wall / 1000).toFixed(2)} s, peak RSS ${r.maxRssMB.toFixed(0)} MB (${(r.maxRssMB / mb).toFixed(2)}× the checkpoint), ` +
        `peak JS heap + ArrayBuffers ${r.peakHeapMB.toFixed(0)} MiB (${(r.peakHeapMB / mb).toFixed(2)}× the checkpoint; ${r.heapAtStartMB.toFixed(0)} MiB at start, ${r.heapSamples} samples)`;
      rows.push(line('cold', cold), line('warm', warm));
      console.log(rows.at(-2));
      console.log(rows.at(-1));
      const cdir = join(tmp, `convert${rep}`);
      mkdirSync(cdir, { recursive: true });
      const conv = await convertRun({ HF_HUB_CACHE: join(cdir, 'hf'), HF_HOME: join(cdir, 'home'), WEBVIT_CACHE_DIR: join(cdir, 'wv'), BENCH_ID: ID, BENCH_HUB: hub.url }, cdir);
      rows.push(
        `Node conversion alone (hubModelFile, cold: download, convert, write): ${(conv.loaded / 1000).toFixed(2)} s, peak RSS ${conv.maxRssMB.toFixed(0)} MB (${(conv.maxRssMB / mb).toFixed(2)}× the checkpoint), ` +
          `peak JS heap + ArrayBuffers ${conv.peakHeapMB.toFixed(0)} MiB (${(conv.peakHeapMB / mb).toFixed(2)}× the checkpoint; ${conv.heapAtStartMB.toFixed(0)} MiB at start, ${conv.heapSamples} samples)`,
      );
      console.log(rows.at(-1));
    }
    if (!args.includes('--skip-chromium')) {
      const server = await startStaticServer({ page: join(REPO, 'test', 'browser', 'hub_page.html'), mounts: [['/dist/', join(REPO, 'dist')]] });
      // A persistent profile (as a visitor's browser has): an incognito context's Cache Storage
      // quota is too small for a 330 MB model, and the warm load would convert again.
      const launch = (dir: string) =>
        chromium.launchPersistentContext(dir, {
          executablePath: process.env.WEBVIT_CHROMIUM ?? '/usr/bin/chromium',
          headless: true,
          args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--no-first-run'],
        });
      try {
        for (let rep = 0; rep < repeat; rep++) {
          for (const worker of [false, true]) {
            const context = await launch(mkdtempSync(join(tmp, 'profile-')));
            const page = await context.newPage();
            await page.goto(`${server.url}/`);
            await page.waitForFunction(() => (window as unknown as { hubReady?: boolean }).hubReady === true);
            for (const what of ['cold', 'warm']) {
              if (what === 'warm') {
                await page.reload();
                await page.waitForFunction(() => (window as unknown as { hubReady?: boolean }).hubReady === true);
              }
              let peak = rendererRssMB();
              const base = peak;
              const timer = setInterval(() => (peak = Math.max(peak, rendererRssMB())), 50);
              const heap = await heapSampler(page);
              const heapBase = await heap.sample();
              let heapPeak = heapBase;
              let heapBusy = false;
              const heapTimer = setInterval(() => {
                if (heapBusy) return;
                heapBusy = true;
                void heap.sample().then((v) => ((heapPeak = Math.max(heapPeak, v)), (heapBusy = false)));
              }, 50);
              const t0 = performance.now();
              const r = (await page.evaluate(
                ([id, hubUrl, w]) => (window as unknown as { classifyById: (o: unknown, i: unknown) => Promise<unknown> }).classifyById({ model: id, hubUrl, worker: w }, { width: 64, height: 64, data: Array.from({ length: 64 * 64 * 4 }, () => 128) }),
                [ID, hub.url, worker] as const,
              )) as { error?: { message: string }; info?: { fromCache: boolean } };
              const ms = performance.now() - t0;
              clearInterval(timer);
              clearInterval(heapTimer);
              await heap.close();
              if (r.error) throw new Error(r.error.message);
              const line = `Chromium ${worker ? 'worker' : 'page'} ${what}: to the first result ${(ms / 1000).toFixed(2)} s (fromCache ${r.info?.fromCache}), renderer RSS peak ${peak.toFixed(0)} MB (at start ${base.toFixed(0)} MB: +${(peak - base).toFixed(0)} MB, ${((peak - base) / mb).toFixed(2)}× the checkpoint), ` +
                `peak JS heap + ArrayBuffers (page and worker) ${(heapPeak / 2 ** 20).toFixed(0)} MiB (${(heapPeak / 2 ** 20 / mb).toFixed(2)}× the checkpoint; ${(heapBase / 2 ** 20).toFixed(0)} MiB at start)`;
              rows.push(line);
              console.log(line);
            }
            await context.close();
          }
        }
      } finally {
        await server.close();
      }
    }
  } finally {
    await hub.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\n${rows.join('\n')}`);
}

await main();
