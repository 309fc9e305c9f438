#!/usr/bin/env node
// webvit next to its peers, on the same adapter, in one run: `npm run bench:peers [-- options]`.
//
// Node (dawn.node: the adapter webvit's Node runs use; on the dev machines lavapipe):
//   webvit, ONNX Runtime Web WebGPU EP on the same dawn.node, ONNX Runtime Web WASM EP,
//   onnxruntime-node CPU EP, transformers.js with device 'webgpu'.
// Chromium (headless, WebGPU on SwiftShader; the same page serves webvit's browser bundle):
//   webvit, ONNX Runtime Web WebGPU EP, ONNX Runtime Web WASM EP, transformers.js 'webgpu'.
//
// Every engine runs in a fresh process (Node) or a fresh browser (Chromium). Per model, the engines
// start one after another (cold start, then the check against PyTorch's float64 logits: an engine
// that fails it is not timed); then their timed runs are interleaved round by round (webvit, peer,
// peer, ..., webvit, peer, ...), so that the load of a shared machine drifts over all of them alike.
// bench/peers/measure.mjs has the protocol.
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
//   --throughput-models L   [vit_ti16]  the models whose throughput is measured ('all' = every one)
//   --min-runs N [3]  --max-runs N [10]  --target-ms N [4000]   timed runs per measurement
//   --tol X                 [1e-3] max relative logits error before an engine is timed
//   --job-timeout S         [900] seconds one step of one engine may take before it is killed
//   --warm-caches           keep Mesa's shader cache and webvit's tuning cache (~/.cache) for the Node
//                           engines; by default every Node engine starts with both empty (Mesa's
//                           off, webvit's in a fresh temporary folder), like Chromium's fresh profile
//   --out FILE              [bench/results/peers-<YYYY-MM-DD>.json]
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './measure.mjs';
import { openBrowserRemote, startServer } from './browser.mjs';

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
    'throughput-models': { type: 'string', default: 'vit_ti16' },
    'min-runs': { type: 'string', default: '3' },
    'max-runs': { type: 'string', default: '10' },
    'target-ms': { type: 'string', default: '4000' },
    tol: { type: 'string', default: '1e-3' },
    'job-timeout': { type: 'string', default: '900' },
    'warm-caches': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  // The comment block at the top of this file is the help text.
  const text = readFileSync(new URL(import.meta.url), 'utf8');
  const lines = text.split('\n').slice(1);
  const head = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
  process.stdout.write(head.map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
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
const callTimeoutMs = +a['job-timeout'] * 1000;

// Cold means first use: no shader cache (Mesa's on-disk cache serves lavapipe for every Node
// engine) and no webvit tuning cache, unless --warm-caches.
const cacheRoot = mkdtempSync(join(tmpdir(), 'webvit-peers-'));
const childEnv = (model) =>
  a['warm-caches'] ? process.env : { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true', WEBVIT_CACHE_DIR: join(cacheRoot, model) };
process.on('exit', () => rmSync(cacheRoot, { recursive: true, force: true }));

/** One engine on one model in a forked Node process: { call(cmd, arg), close(), info }. */
function openNodeRemote(engine, model) {
  const child = fork(join(REPO, 'bench', 'peers', 'node-job.mjs'), ['--engine', engine, '--model', model, '--peers', PEERS, '--tol', a.tol], {
    cwd: REPO,
    env: childEnv(model),
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let tail = '';
  child.stderr.on('data', (d) => {
    const s = d.toString();
    tail = (tail + s).slice(-2000);
    for (const line of s.split('\n')) {
      // Dawn's and the Vulkan loader's harmless start-up noise, and ORT's placement warnings.
      if (line && !/XDG_RUNTIME_DIR|artificially reduced|VerifyEachNodeIsAssignedToAnEp/.test(line)) log(`  ${line}`);
    }
  });
  const pending = new Map();
  let nextId = 0;
  let exited = false;
  let ready;
  const readyP = new Promise((ok, fail) => (ready = { ok, fail }));
  child.on('message', (m) => {
    if (m.ready) return ready.ok();
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.fail(new Error(m.error));
    else p.ok(m.value);
  });
  child.on('exit', (code, signal) => {
    exited = true;
    const err = new Error(`the ${engine} process exited (${code ?? signal}): ${tail.trim().split('\n').slice(-3).join(' | ')}`);
    ready.fail(err);
    for (const p of pending.values()) p.fail(err);
    pending.clear();
  });
  const call = (cmd, arg) =>
    new Promise((ok, fail) => {
      if (exited) return fail(new Error(`the ${engine} process has exited`));
      const id = nextId++;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`${cmd} took longer than ${a['job-timeout']} s (--job-timeout): killed`));
      }, callTimeoutMs);
      pending.set(id, { ok: (v) => (clearTimeout(timer), ok(v)), fail: (e) => (clearTimeout(timer), fail(e)) });
      child.send({ id, cmd, arg });
    });
  return readyP.then(() => ({
    info: { where: 'node' },
    call,
    async close() {
      if (exited) return;
      const gone = new Promise((ok) => child.once('exit', ok));
      call('dispose').catch(() => {});
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(t);
    },
  }));
}

/** Round-robin timed runs: each live entry runs once per round until it has enough. */
async function rounds(entries, key, fn, opts = runOpts) {
  const runs = new Map(entries.map((e) => [e, []]));
  const want = (e) => {
    const r = runs.get(e);
    const total = r.reduce((x, y) => x + y, 0);
    return r.length < opts.minRuns || (total < opts.targetMs && r.length < opts.maxRuns);
  };
  let active = entries;
  while ((active = active.filter((e) => !e.result[`${key}Failure`] && want(e))).length) {
    for (const e of active) {
      try {
        runs.get(e).push(await fn(e));
      } catch (err) {
        e.result[`${key}Failure`] = String(err?.message ?? err).slice(0, 2000);
        log(`  ${e.result.where} ${e.engine}: ${key} failed: ${e.result[`${key}Failure`]}`);
      }
    }
  }
  for (const e of entries) {
    const r = runs.get(e);
    if (!r.length || e.result[`${key}Failure`]) continue;
    e.result[key] = { medianMs: median(r), runsMs: r };
    log(`  ${e.result.where} ${e.engine} ${e.result.model}: ${key} median ${median(r).toFixed(1)} ms over ${r.length} runs`);
  }
}

/** Every engine on one model in one place (node or chromium): cold starts, checks, then interleaved timing. */
async function benchGroup(where, model, engines, batchOpt, open) {
  const tm = a['throughput-models'];
  const batch = tm === 'all' || list(tm).includes(model) ? batchOpt : 0;
  const entries = [];
  for (const engine of engines) {
    log(`[${elapsed()}] ${where} ${engine} ${model}: start`);
    let remote;
    let result;
    try {
      remote = await open(engine, model);
      result = { ...(await remote.call('start')), ...remote.info };
    } catch (e) {
      result = { engine, model, ok: false, failure: String(e?.message ?? e).slice(0, 2000) };
    }
    result.where = where;
    if (!result.ok) {
      log(`  ${where} ${engine} ${model}: FAILED: ${result.failure}`);
      await remote?.close().catch(() => {});
      remote = undefined;
    }
    entries.push({ engine, remote, result });
    if (where === 'node' && engine === 'webvit' && result.ok && !a['warm-caches']) {
      // webvit tunes its kernels on first use and caches the choice: a second start in a fresh
      // process, with the cache the first one filled (shader caches still off), is a returning user's.
      log(`[${elapsed()}] ${where} ${engine} ${model}: second cold start, tuning cache filled`);
      let again;
      try {
        again = await open(engine, model);
        const r2 = await again.call('start');
        if (r2.ok) result.coldTuned = r2.cold;
      } catch (e) {
        log(`  second start failed: ${e?.message ?? e}`);
      } finally {
        await again?.close().catch(() => {});
      }
    }
  }
  const live = entries.filter((e) => e.remote);
  try {
    log(`[${elapsed()}] ${where} ${model}: batch 1, ${live.map((e) => e.engine).join(', ')} interleaved`);
    await rounds(live, 'latency', (e) => e.remote.call('time', 1));
    for (const e of live) if (e.result.latency) e.result.latency.batch = 1;

    const withPipeline = [];
    for (const e of live) if (await e.remote.call('hasPipeline')) withPipeline.push(e);
    if (withPipeline.length) {
      for (const e of withPipeline) await e.remote.call('timePipeline'); // its preprocessing's warm-up
      await rounds(withPipeline, 'pipeline', (e) => e.remote.call('timePipeline'), { minRuns: Math.min(2, runOpts.minRuns), maxRuns: Math.min(5, runOpts.maxRuns), targetMs: runOpts.targetMs / 2 });
    }

    if (batch > 0) {
      const ready = [];
      for (const e of live) {
        log(`[${elapsed()}] ${where} ${e.engine} ${model}: batch ${batch} warm-up and check`);
        const p = await e.remote.call('prepare', batch).catch((err) => ({ ok: false, failure: String(err?.message ?? err) }));
        if (p.error !== undefined) e.result.error[`batch${batch}`] = p.error;
        if (p.ok) ready.push(e);
        else e.result.throughputFailure = p.failure;
      }
      log(`[${elapsed()}] ${where} ${model}: batch ${batch}, ${ready.map((e) => e.engine).join(', ')} interleaved`);
      const tp = { minRuns: Math.min(2, runOpts.minRuns), maxRuns: Math.min(5, runOpts.maxRuns), targetMs: runOpts.targetMs };
      await rounds(ready, 'throughput', (e) => e.remote.call('time', batch), tp);
      for (const e of ready) {
        const t = e.result.throughput;
        if (t) Object.assign(t, { batch, imagesPerSec: (1000 * batch) / t.medianMs });
      }
    }
  } finally {
    for (const e of live) await e.remote.close().catch(() => {});
  }
  return entries.map((e) => e.result);
}

const results = [];
log(`peers: ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ` +
  `${(freemem() / 2 ** 30).toFixed(1)}/${(totalmem() / 2 ** 30).toFixed(1)} GiB free`);
const loadBefore = loadavg();

// 2. Node: one forked process per (engine, model).
for (const model of nodeModels) {
  results.push(...(await benchGroup('node', model, list(a['node-engines']), +a['node-batch'], openNodeRemote)));
}

// 3. Chromium: one fresh browser per (engine, model).
if (browserModels.length) {
  const server = await startServer(PEERS, log);
  const url = server.url;
  try {
    for (const model of browserModels) {
      const open = (engine, m) => openBrowserRemote(url, engine, m, +a.tol, (line) => log(`  ${line}`), callTimeoutMs);
      results.push(...(await benchGroup('chromium', model, list(a['browser-engines']), +a['browser-batch'], open)));
    }
  } finally {
    await server.close();
  }
}

// 4. Ratios against webvit in the same place (Node or Chromium) for the same model.
const fmt = (x, d = 0) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const ratio = (x) => (x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
const rows = [];
for (const r of results) {
  const w = results.find((x) => x.engine === 'webvit' && x.where === r.where && x.model === r.model);
  const ok = (x) => x && x.ok;
  const row = {
    where: r.where,
    model: r.model,
    engine: r.engine,
    adapter: adapterName(r.info),
    ok: r.ok,
    failure: [r.failure, r.latencyFailure && `batch 1: ${r.latencyFailure}`, r.throughputFailure, r.pipelineFailure && `pipeline: ${r.pipelineFailure}`].filter(Boolean).join('; ') || undefined,
    error: r.error ? Math.max(...Object.values(r.error)) : undefined,
    coldMs: r.cold?.totalMs,
    coldTunedMs: r.coldTuned?.totalMs,
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
const tuned = results.filter((r) => r.coldTuned);
if (tuned.length) {
  process.stdout.write(
    'webvit cold start in a second fresh process, its tuning cache filled by the first (shader caches still empty):\n  ' +
      tuned.map((r) => `${r.where} ${r.model}: ${fmt(r.coldTuned.totalMs)} ms (first use ${fmt(r.cold.totalMs)} ms)`).join('\n  ') + '\n',
  );
}
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
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavgBefore: loadBefore, loadavgAtEnd: loadavg(), memGiB: totalmem() / 2 ** 30, node: process.version },
      options: a,
      caches: a['warm-caches'] ? 'warm (as found in ~/.cache)' : 'Node engines: MESA_SHADER_CACHE_DISABLE=true and an empty WEBVIT_CACHE_DIR; Chromium: a fresh profile per engine',
      ratios: 'webvit ÷ peer (latencyRatio, coldRatio: < 1 = webvit faster; throughputRatio: > 1 = webvit faster)',
      rows,
      results,
    },
    null,
    1,
  ) + '\n',
);
log(`peers: wrote ${outFile}`);
