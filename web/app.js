// The webvit demo page: load a model (the bundled Fashion-MNIST ViT, or a converted .safetensors
// the user picks), classify whatever image comes in (drop, pick, paste, camera, examples), show
// the top 5 with bars, the time per stage and per op, the adapter and the kernels.
// Plain ES module, no build step: it imports the library's browser bundle as built in dist/.
//
// URL parameters: ?worker=1 runs the model in a Web Worker; ?model=URL loads another weight file.
// Tests read window.webvitDemo (state, timings) and document.body.dataset.state.
import * as render from './render.js';
import { wireCamera, wireImageInputs } from './sources.js';

const BUNDLE = new URL('../dist/webvit.browser.js', import.meta.url).href;
const DEFAULT_MODEL = new URL('../models/fashion-mnist/model.safetensors', import.meta.url).href;
/** The files in examples/ (test/browser/web.test.ts checks this list against the folder). */
const EXAMPLES = ['ankle-boot', 'bag', 'dress', 'pullover', 'sneaker', 'trouser'].map((name) => ({
  name,
  url: new URL(`../examples/${name}.png`, import.meta.url).href,
}));
const TOP_K = 5;

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

/** What tests and the curious can read from the console. */
const demo = {
  state: 'loading',
  /** ms from navigation start to the first result on screen. */
  firstResultMs: undefined,
  /** ms from navigation start to the model being ready. */
  readyMs: undefined,
  /** Every classification: { name, top, totalMs, stages, worker }. */
  results: [],
  error: undefined,
  classifier: undefined,
};
window.webvitDemo = demo;

function setState(s) {
  demo.state = s;
  document.body.dataset.state = s;
}

let webvit;
let clf;
/** Bumped per load; a load that is overtaken by a newer one drops its classifier. */
let loadSeq = 0;
/** Bumped per classification; only the newest one is drawn. */
let classifySeq = 0;
let lastSource;

const controls = () => ['drop', 'camera', 'profile', 'model-pick'].map($).concat([...document.querySelectorAll('#examples button')]);
function enable(on) {
  for (const c of controls()) c.disabled = !on;
  $('worker').disabled = !on;
}

function describeError(e) {
  return e?.code ? `${e.message} (${e.code})` : String(e?.message ?? e);
}

async function start() {
  setState('loading');
  render.examples(EXAMPLES, (name, url) => classifyNamed(url, name));
  $('worker').checked = params.get('worker') === '1';
  // Say at once when WebGPU is missing, before fetching anything big.
  if (!('gpu' in navigator) || !navigator.gpu) {
    return showNoWebGpu(`navigator.gpu is missing in this browser${window.isSecureContext ? '' : ' (and this page is not a secure context: open it over https or on localhost)'}.`);
  }
  render.status('Loading webvit…');
  // An adapter is asked for while the bundle loads: without one (Chromium on Linux without the
  // WebGPU flag, a blocked GPU) the page says so before it downloads any weights.
  const [bundle, adapter] = await Promise.allSettled([import(BUNDLE), anyAdapter()]);
  if (adapter.status === 'fulfilled' && !adapter.value) {
    return showNoWebGpu('navigator.gpu is here, but it offers no adapter (WebGPU is switched off, or this GPU is blocked).');
  }
  if (bundle.status === 'rejected') {
    return fatal(`The webvit bundle did not load (${BUNDLE}): ${describeError(bundle.reason)}. Run \`npm run build\` and reload.`);
  }
  webvit = bundle.value;
  wireImageInputs({ onImage: (f, how) => classifyNamed(f, f.name || `${how} image`), onRefused: (m) => render.status(m) });
  wireCamera({ classifyFrame: (video) => classifyNamed(video, 'camera frame'), onError: (e) => render.status(`Camera: ${describeError(e)}`, { error: true }) });
  $('profile').addEventListener('click', () => void profileLast());
  $('model-pick').addEventListener('click', () => $('model-file').click());
  $('model-file').addEventListener('change', () => {
    const f = $('model-file').files?.[0];
    $('model-file').value = '';
    if (f) void load(f, f.name, { custom: true });
  });
  $('model-default').addEventListener('click', () => void load(DEFAULT_MODEL, 'Fashion-MNIST (bundled)', { custom: false }));
  $('worker').addEventListener('change', () => void load(currentModel.model, currentModel.name, { custom: currentModel.custom }));
  const modelUrl = params.get('model');
  await load(modelUrl ? new URL(modelUrl, location.href).href : DEFAULT_MODEL, modelUrl ?? 'Fashion-MNIST (bundled)', { custom: Boolean(modelUrl) });
  // Show it working: the first example is classified as soon as the model is ready.
  if (clf && !demo.results.length) await classifyNamed(EXAMPLES[0].url, EXAMPLES[0].name);
}

/** Any WebGPU adapter at all (the library picks its own; this only tells whether one exists). */
async function anyAdapter() {
  const a = (await navigator.gpu.requestAdapter().catch(() => null)) ?? (await navigator.gpu.requestAdapter({ forceFallbackAdapter: true }).catch(() => null));
  return a !== null;
}

let currentModel = { model: DEFAULT_MODEL, name: '', custom: false };

function showNoWebGpu(why) {
  setState('no-webgpu');
  demo.error = why;
  render.noWebGpu(why);
}

function fatal(message) {
  setState('error');
  demo.error = message;
  render.status(message, { error: true });
}

/** Loads a model (URL or File) into a new classifier; the old one is disposed once it is replaced. */
async function load(model, name, { custom }) {
  const seq = ++loadSeq;
  const worker = $('worker').checked;
  currentModel = { model, name, custom };
  enable(false);
  setState('loading');
  const t0 = performance.now();
  render.status(`Loading ${name}…`, { fraction: 0 });
  const old = clf;
  clf = undefined;
  lastSource = undefined;
  await old?.dispose().catch(() => undefined);
  let next;
  try {
    const source = model instanceof Blob ? await model.arrayBuffer() : model;
    next = await webvit.createImageClassifier({
      model: source,
      worker,
      onProgress: (e) => seq === loadSeq && render.status(progressText(name, e), { fraction: progressFraction(e) }),
    });
  } catch (e) {
    if (seq !== loadSeq) return;
    if (e?.code === 'NO_WEBGPU' || e?.code === 'NO_ADAPTER') return showNoWebGpu(e.message);
    // Another model (or the bundled one, or the other mode) may still load.
    $('model-pick').disabled = $('worker').disabled = false;
    $('model-default').hidden = false;
    return fatal(`${name} did not load: ${describeError(e)}`);
  }
  if (seq !== loadSeq) return void next.dispose();
  clf = demo.classifier = next;
  demo.readyMs ??= performance.now();
  const loadMs = performance.now() - t0;
  showInfo(name, worker, loadMs);
  $('model-default').hidden = !custom;
  enable(true);
  $('profile').disabled = true; // until something is classified
  setState('ready');
  render.status(`${name} is ready (loaded in ${(loadMs / 1000).toFixed(1)} s${worker ? ', in a Web Worker' : ''}). Drop, paste or choose an image.`);
}

function progressFraction(e) {
  const done = e.loaded ?? e.done;
  return e.total ? done / e.total : undefined;
}

function progressText(name, e) {
  const done = e.loaded ?? e.done;
  const what = { download: 'downloading', compile: 'compiling kernels', tune: 'tuning kernels', cache: 'reading from the cache' }[e.stage] ?? e.stage;
  if (e.stage === 'download' && e.total) return `Loading ${name}: ${what} ${(done / 1e6).toFixed(1)} of ${(e.total / 1e6).toFixed(1)} MB`;
  if (e.total) return `Loading ${name}: ${what} ${done}/${e.total}${e.detail ? ` (${e.detail})` : ''}`;
  return `Loading ${name}: ${what}…`;
}

function showInfo(name, worker, loadMs) {
  const info = clf.info ?? {};
  const c = info.config ?? {};
  const a = info.adapter ?? {};
  const labels = info.labels ?? [];
  render.facts('info', [
    ['Model', name],
    ['Shape', c.hidden_size ? `ViT, ${c.image_size}×${c.image_size}×${c.num_channels} in, patch ${c.patch_size}, hidden ${c.hidden_size}, ${c.num_hidden_layers} layers, ${c.num_attention_heads} heads` : '–'],
    ['Classes', labels.length ? `${labels.length}: ${labels.slice(0, 10).join(', ')}${labels.length > 10 ? ', …' : ''}` : String(c.num_labels ?? c.num_classes ?? '–')],
    ['Adapter', [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || '(not reported)'],
    ['Runs in', worker ? 'a Web Worker' : 'the page (main thread)'],
    ['Load time', `${(loadMs / 1000).toFixed(2)} s`],
  ]);
  const kernels = info.kernels ?? {};
  render.facts('kernels', Object.entries(kernels).map(([op, v]) => [op, typeof v === 'string' ? v : JSON.stringify(v)]));
}

/**
 * Stage times if the library reports them (upload, preprocess, forward, readback), as [name, ms].
 * The library returns them with the result when asked (`timings: true`).
 */
function stageRows(t) {
  if (!t) return [];
  const names = ['upload', 'preprocess', 'forward', 'readback'];
  return names.filter((n) => t[n] !== undefined).map((n) => [n, t[n]]);
}

/** Classifies one source and draws the result (only the newest of overlapping calls is drawn). */
async function classifyNamed(source, name) {
  if (!clf) return;
  const seq = ++classifySeq;
  const mine = clf;
  if (typeof source === 'string') render.preview(source, name);
  else if (source instanceof Blob) render.preview(URL.createObjectURL(source), name);
  else if (source instanceof HTMLVideoElement) render.preview(await frameUrl(source), name);
  render.status(`Classifying ${name}…`);
  const t0 = performance.now();
  let top;
  let timings;
  try {
    const out = await mine.classify(source, { topK: TOP_K, timings: true });
    ({ top, timings } = unpack(out));
  } catch (e) {
    if (seq !== classifySeq) return;
    render.resultError(name, describeError(e));
    render.status(`${name} was not classified: ${describeError(e)}`, { error: true });
    return;
  }
  const totalMs = performance.now() - t0;
  if (seq !== classifySeq || mine !== clf) return;
  lastSource = source instanceof HTMLVideoElement ? undefined : source;
  render.result(name, top);
  const rows = stageRows(timings);
  render.stages(rows, totalMs, rows.length ? '' : 'This build of webvit does not report stage times; the total is measured by the page.');
  $('profile').disabled = !lastSource || typeof mine.profile !== 'function';
  demo.firstResultMs ??= performance.now();
  demo.results.push({ name, top, totalMs, stages: Object.fromEntries(rows), worker: $('worker').checked });
  render.status(`${name}: ${top[0]?.label ?? '?'} (${(totalMs).toFixed(0)} ms).`);
  document.body.dataset.results = String(demo.results.length);
}

/** classify() of one source gives its top list, or { top, timings } when timings were asked for. */
function unpack(out) {
  if (Array.isArray(out)) return { top: Array.isArray(out[0]) ? out[0] : out, timings: out.timings };
  return { top: out.top ?? out.classes ?? [], timings: out.timings };
}

/** A still of the video's current frame, for the preview. */
async function frameUrl(video) {
  const c = document.createElement('canvas');
  c.width = video.videoWidth || 1;
  c.height = video.videoHeight || 1;
  c.getContext('2d').drawImage(video, 0, 0);
  return c.toDataURL('image/jpeg', 0.8);
}

/** Runs the last image once more with per-dispatch timing, and shows the time per op. */
async function profileLast() {
  if (!clf || !lastSource || typeof clf.profile !== 'function') return;
  $('profile').disabled = true;
  try {
    render.status('Timing every op…');
    const p = await clf.profile(lastSource);
    render.ops(p);
    demo.lastProfile = p;
    render.status(`Timed ${p.dispatches.length} dispatches: ${p.totalMs.toFixed(1)} ms of GPU time.`);
  } catch (e) {
    render.status(`Timing failed: ${describeError(e)}`, { error: true });
  } finally {
    $('profile').disabled = false;
  }
}

start().catch((e) => fatal(`The demo failed to start: ${describeError(e)}`));
