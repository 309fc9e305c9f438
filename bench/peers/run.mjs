#!/usr/bin/env node
// webvit next to its peers, on the same adapter, in one run: `npm run bench:peers [-- options]`.
//
// Node (dawn.node: the adapter webvit's Node runs use; on the dev machines lavapipe):
//   webvit, ONNX Runtime Web WebGPU EP on the same dawn.node, ONNX Runtime Web WASM EP,
//   onnxruntime-node CPU EP, transformers.js with device 'webgpu'.
// Chromium (headless, WebGPU on SwiftShader; the same page serves webvit's browser bundle):
//   webvit, ONNX Runtime Web WebGPU EP, ONNX Runtime Web WASM EP, transformers.js 'webgpu'.
//
// Every engine runs in a fresh process (Node) or a fresh browser (Chromium) and is checked against
// PyTorch's float64 logits before it is timed (bench/peers/measure.mjs has the protocol).
// Prints a table of ratios against webvit measured in the same run on the same adapter, and
// writes bench/results/peers-<date>.json.
//
// Options (defaults in brackets):
//   --node-models LIST      [vit_ti16,vit_s16]  models run in Node ('' = none)
//   --browser-models LIST   [vit_ti16]          models run in Chromium ('' = none)
//   --node-engines LIST     [webvit,ort-webgpu,ort-wasm,ort-node,tjs-webgpu]
//                           (also: tjs-webgpu-dawn = transformers.js on onnxruntime-web on dawn.node)
//   --browser-engines LIST  [webvit,ort-webgpu,ort-wasm,tjs-webgpu]
//   --node-batch N          [8]  throughput batch in Node (0 = skip throughput)
//   --browser-batch N       [0]  throughput batch in Chromium (SwiftShader is slow: off by default)
//   --min-runs N [3]  --max-runs N [10]  --target-ms N [4000]   timed runs per measurement
//   --tol X                 [1e-3] max relative logits error before an engine is timed
//   --job-timeout S         [900] seconds per (engine, model) before it is killed
//   --out FILE              [bench/results/peers-<YYYY-MM-DD>.json]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runInBrowser, startServer } from './browser.mjs';

const REPO = resolve(import.meta.dirname, '..', '..');
const PEERS = join(REPO, 'test', 'fixtures', 'generated', 'peers');
const NAMES = { vit_ti16: 'ViT-Ti/16', vit_s16: 'ViT-S/16', vit_b16: 'ViT-B/16' };

const { values: a } = parseArgs({
  options: {
    'node-models': { type: 'string', default: 'vit_ti16,vit_s16' },
    'browser-models': { type: 'string', default: 'vit_ti16' },
    'node-engines': { type: 'string', default: 'webvit,ort-webgpu,ort-wasm,ort-node,tjs-webgpu' },
    'browser-engines': { type: 'string', default: 'webvit,ort-webgpu,ort-wasm,tjs-webgpu' },
    'node-batch': { type: 'string', default: '8' },
    'browser-batch': { type: 'string', default: '0' },
    'min-runs': { type: 'string', default: '3' },
    'max-runs': { type: 'string', default: '10' },
    'target-ms': { type: 'string', default: '4000' },
    tol: { type: 'string', default: '1e-3' },
    'job-timeout': { type: 'string', default: '900' },
    out: { type: 'string' },
  },
});
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const nodeModels = list(a['node-models']);
const browserModels = list(a['browser-models']);
const log = (m) => process.stderr.write(`${m}\n`);
const started = new Date();
const T0 = performance.now();
const elapsed = () => `${((performance.now() - T0) / 1000).toFixed(0)} s`;

// 1. Fixtures: the export script skips what is up to date.
const models = [...new Set([...nodeModels, ...browserModels])];
for (const m of models) if (!NAMES[m]) throw new Error(`unknown model ${m}; one of ${Object.keys(NAMES).join(', ')}`);
const missing = models.filter((m) => !['model.onnx', 'model.safetensors', 'golden.json', 'input.bin', 'hf/onnx/model.onnx'].every((f) => existsSync(join(PEERS, m, f))));
if (missing.length) {
  log(`peers: exporting ${missing.join(', ')} (tools/export_onnx.py)`);
  const r = spawnSync('/usr/bin/python3', ['tools/export_onnx.py', '--only', ...missing], { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tools/export_onnx.py failed');
}
if (!existsSync(join(REPO, 'dist', 'node.js'))) throw new Error('dist/ is missing: run `npm run build` first');

const runOpts = { minRuns: +a['min-runs'], maxRuns: +a['max-runs'], targetMs: +a['target-ms'] };
const measureOpts = (batch) => ({
  tol: +a.tol,
  throughputBatch: batch,
  latency: runOpts,
  throughput: { minRuns: Math.min(2, runOpts.minRuns), maxRuns: Math.min(5, runOpts.maxRuns), targetMs: runOpts.targetMs },
  pipeline: { minRuns: Math.min(3, runOpts.minRuns), maxRuns: 5, targetMs: runOpts.targetMs / 2 },
});

function nodeJob(engine, model) {
  const out = join(tmpdir(), `webvit-peer-${process.pid}-${engine}-${model}.json`);
  rmSync(out, { force: true });
  const args = [
    join(REPO, 'bench', 'peers', 'node-job.mjs'),
    '--engine', engine, '--model', model, '--out', out, '--peers', PEERS,
    '--throughput-batch', a['node-batch'], '--min-runs', a['min-runs'], '--max-runs', a['max-runs'],
    '--target-ms', a['target-ms'], '--tol', a.tol,
  ];
  return new Promise((ok) => {
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d) => {
      const s = d.toString();
      tail = (tail + s).slice(-4000);
      for (const line of s.split('\n')) {
        // Dawn's and the Vulkan loader's harmless start-up noise.
        if (line && !/XDG_RUNTIME_DIR|artificially reduced/.test(line)) log(`  ${line}`);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), +a['job-timeout'] * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      let result;
      try {
        result = JSON.parse(readFileSync(out, 'utf8'));
        rmSync(out, { force: true });
      } catch {
        result = {
          engine, model, where: 'node', ok: false,
          failure: signal === 'SIGKILL' ? `killed after ${a['job-timeout']} s (--job-timeout)` : `exited with ${code ?? signal} and no result: ${tail.trim().split('\n').slice(-3).join(' | ')}`,
        };
      }
      ok(result);
    });
  });
}

const results = [];
log(`peers: ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ` +
  `${(freemem() / 2 ** 30).toFixed(1)}/${(totalmem() / 2 ** 30).toFixed(1)} GiB free`);

// 2. Node: one fresh process per (engine, model).
for (const model of nodeModels) {
  for (const engine of list(a['node-engines'])) {
    log(`[${elapsed()}] node ${engine} ${model}`);
    results.push(await nodeJob(engine, model));
  }
}

// 3. Chromium: one fresh browser per (engine, model).
if (browserModels.length) {
  const { server, url } = await startServer(PEERS, log);
  try {
    for (const model of browserModels) {
      for (const engine of list(a['browser-engines'])) {
        log(`[${elapsed()}] chromium ${engine} ${model}`);
        const r = await runInBrowser(url, engine, model, measureOpts(+a['browser-batch']), (m) => log(`  ${m}`), +a['job-timeout'] * 1000);
        if (!r.ok) log(`  ${engine} ${model}: FAILED: ${r.failure}`);
        results.push(r);
      }
    }
  } finally {
    server.close();
  }
}

// 4. Ratios against webvit in the same place (Node or Chromium) for the same model.
const fmt = (x, d = 0) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const ratio = (x) => (x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
const rows = [];
for (const r of results) {
  const w = results.find((x) => x.engine === 'webvit' && x.where === r.where && x.model === r.model);
  const ok = (x) => x && x.ok !== false && !x.failure?.startsWith('logits');
  const row = {
    where: r.where,
    model: r.model,
    engine: r.engine,
    adapter: adapterName(r.info),
    ok: r.ok,
    failure: r.failure,
    error: r.error ? Math.max(...Object.values(r.error)) : undefined,
    coldMs: r.cold?.totalMs,
    latencyMs: r.latency?.medianMs,
    pipelineMs: r.pipeline?.medianMs,
    throughputBatch: r.throughput?.batch,
    imagesPerSec: r.throughput?.imagesPerSec,
  };
  if (r.engine !== 'webvit' && ok(w) && ok(r)) {
    // webvit ÷ peer: for times below 1 means webvit is faster; for throughput above 1 means webvit is faster.
    row.latencyRatio = w.latency && r.latency ? w.latency.medianMs / r.latency.medianMs : undefined;
    row.throughputRatio = w.throughput && r.throughput ? w.throughput.imagesPerSec / r.throughput.imagesPerSec : undefined;
    row.coldRatio = w.cold && r.cold ? w.cold.totalMs / r.cold.totalMs : undefined;
  }
  rows.push(row);
}

function adapterName(i) {
  if (!i) return '?';
  if (i.vendor || i.architecture) return `${i.vendor ?? '?'}/${i.architecture ?? '?'}${i.description ? ` (${i.description})` : ''}`;
  return i.api ?? '?';
}

const header = ['where', 'model', 'engine', 'logits err', 'cold ms', 'b1 ms', 'tput img/s', 'lat w÷p', 'tput w÷p', 'cold w÷p'];
const table = [header];
for (const r of rows) {
  table.push([
    r.where, NAMES[r.model] ?? r.model, r.engine,
    r.error === undefined ? '—' : r.error.toExponential(1),
    fmt(r.coldMs), fmt(r.latencyMs, 1),
    r.imagesPerSec ? `${fmt(r.imagesPerSec, 2)} (b${r.throughputBatch})` : '—',
    ratio(r.latencyRatio), ratio(r.throughputRatio), ratio(r.coldRatio),
  ]);
}
const widths = header.map((_, c) => Math.max(...table.map((row) => String(row[c]).length)));
const lines = table.map((row) => row.map((v, c) => String(v).padEnd(widths[c])).join('  '));
lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
const adapters = [...new Set(rows.map((r) => `${r.where}: ${r.engine}: ${r.adapter}`))];
process.stdout.write(
  `\nwebvit vs peers, ${started.toISOString()} (${elapsed()} in all)\n` +
    `w÷p = webvit ÷ peer: latency and cold start below 1× = webvit faster; throughput above 1× = webvit faster.\n\n` +
    lines.join('\n') + '\n\n' +
    rows.filter((r) => r.failure).map((r) => `${r.where} ${r.model} ${r.engine}: ${r.failure}`).join('\n') +
    '\nadapters:\n  ' + adapters.join('\n  ') + '\n',
);
const pipelines = rows.filter((r) => r.pipelineMs);
if (pipelines.length) {
  process.stdout.write(
    'transformers.js image-classification pipeline (RawImage in, top-5 out; includes preprocessing), batch 1:\n  ' +
      pipelines.map((r) => `${r.where} ${r.model}: ${fmt(r.pipelineMs, 1)} ms`).join('\n  ') + '\n',
  );
}

const outFile = a.out ?? join(REPO, 'bench', 'results', `peers-${started.toISOString().slice(0, 10)}.json`);
mkdirSync(resolve(outFile, '..'), { recursive: true });
writeFileSync(
  outFile,
  JSON.stringify(
    {
      date: started.toISOString(),
      seconds: (performance.now() - T0) / 1000,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavgAtEnd: loadavg(), memGiB: totalmem() / 2 ** 30, node: process.version },
      options: a,
      ratios: 'webvit ÷ peer (latencyRatio, coldRatio: < 1 = webvit faster; throughputRatio: > 1 = webvit faster)',
      rows,
      results,
    },
    null,
    1,
  ) + '\n',
);
log(`peers: wrote ${outFile}`);
