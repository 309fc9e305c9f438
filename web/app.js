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
  /** Every classification: { name, top, totalMs (classify alone), explainMs, wallMs (both and drawing), stages, worker }. */
  results: [],
  /** Every classification that failed: { name, message }. */
  errors: [],
  /** Every model that failed to load: { name, message }. */
  loadErrors: [],
  /** Every explain() that failed: { name, message }. */
  explainErrors: [],
  /** The last explanation shown: { grid, layers, source }. */
  explanation: undefined,
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

const controls = () => ['drop', 'camera', 'model-pick', 'model-id-load'].map($).concat([...document.querySelectorAll('#examples button')]);
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
  $('layer').addEventListener('input', drawAttention);
  $('model-pick').addEventListener('click', () => $('model-file').click());
  $('model-file').addEventListener('change', () => {
    const f = $('model-file').files?.[0];
    $('model-file').value = '';
    if (f) void loadAndRerun(f, f.name, { custom: true });
  });
  $('model-default').addEventListener('click', () => void loadAndRerun(DEFAULT_MODEL, 'Fashion-MNIST (bundled)', { custom: false }));
  $('model-id-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = $('model-id').value.trim();
    if (id && !$('model-id-load').disabled) void loadAndRerun(id, id, { custom: true, id: true });
  });
  $('worker').addEventListener('change', () => void loadAndRerun(currentModel.model, currentModel.name, { custom: currentModel.custom, id: currentModel.id }));
  // ?model=URL or ?model=org/name (a Hub id); ?hub=URL: where ids are fetched from (a mirror).
  const modelParam = params.get('model');
  const byId = modelParam !== null && /^(hf:)?[\w.-]+\/[\w.-]+(@.+)?$/.test(modelParam) && !/\.safetensors$/.test(modelParam);
  await load(modelParam ? (byId ? modelParam : new URL(modelParam, location.href).href) : DEFAULT_MODEL, modelParam ?? 'Fashion-MNIST (bundled)', { custom: Boolean(modelParam), id: byId });
  // Show it working: the first example is classified as soon as the model is ready.
  if (clf && !demo.results.length) await classifyNamed(EXAMPLES[0].url, EXAMPLES[0].name);
}

/** The last image classified (not camera frames): a newly loaded model classifies it again. */
let lastShown;

async function loadAndRerun(model, name, options) {
  if ((await load(model, name, options)) && lastShown) await classifyNamed(lastShown.source, lastShown.name);
}

/** Any WebGPU adapter at all (the library picks its own; this only tells whether one exists). */
async function anyAdapter() {
  const a = (await navigator.gpu.requestAdapter().catch(() => null)) ?? (await navigator.gpu.requestAdapter({ forceFallbackAdapter: true }).catch(() => null));
  return a !== null;
}

let currentModel = { model: DEFAULT_MODEL, name: 'Fashion-MNIST (bundled)', custom: false };

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

/**
 * Loads a model (URL or File) into a new classifier. The one in use keeps working until the new
 * one is ready, and stays if the new one fails to load (the error is shown). True when loaded.
 */
async function load(model, name, { custom, id = false }) {
  const seq = ++loadSeq;
  const worker = $('worker').checked;
  const previous = { clf, model: currentModel };
  enable(false);
  setState('loading');
  const t0 = performance.now();
  render.status(`Loading ${name}…`, { fraction: 0 });
  let next;
  try {
    const source = model instanceof Blob ? await model.arrayBuffer() : model;
    next = await webvit.createImageClassifier({
      model: source,
      worker,
      ...(id && params.get('hub') ? { hubUrl: new URL(params.get('hub'), location.href).href } : {}),
      onProgress: (e) => seq === loadSeq && render.status(progressText(name, e), { fraction: progressFraction(e), detail: progressDetail(e) }),
    });
  } catch (e) {
    if (seq !== loadSeq) return;
    if (e?.code === 'NO_WEBGPU' || e?.code === 'NO_ADAPTER') return showNoWebGpu(e.message);
    demo.loadErrors.push({ name, message: describeError(e) });
    document.body.dataset.loadErrors = String(demo.loadErrors.length);
    if (!previous.clf) {
      // Nothing to fall back to; another model, or the other mode, may still load.
      $('model-pick').disabled = $('worker').disabled = false;
      $('model-default').hidden = !custom;
      fatal(`${name} did not load: ${describeError(e)}`);
      return false;
    }
    // Back to what was running: its model, and the worker box as it was.
    $('worker').checked = Boolean(previous.clf.info?.worker);
    enable(true);
    setState('ready');
    render.status(`${name} did not load: ${describeError(e)}. Still using ${previous.model.name}.`, { error: true });
    return false;
  }
  if (seq !== loadSeq) {
    void next.dispose();
    return false;
  }
  clf = demo.classifier = next;
  currentModel = { model, name, custom, id };
  await previous.clf?.dispose().catch(() => undefined);
  demo.readyMs ??= performance.now();
  const loadMs = performance.now() - t0;
  showInfo(name, worker, loadMs);
  $('model-default').hidden = !custom;
  enable(true);
  setState('ready');
  render.status(`${name} is ready (loaded in ${(loadMs / 1000).toFixed(1)} s${worker ? ', in a Web Worker' : ''}). Drop, paste or choose an image.`);
  return true;
}

function progressFraction(e) {
  return e.total ? e.done / e.total : undefined;
}

/** The phase, for the live status line. */
function progressText(name, e) {
  const what =
    e.stage === 'download'
      ? e.fromCache
        ? 'reading the weights from Cache Storage'
        : `downloading ${e.detail ?? 'the weights'}`
      : e.stage === 'convert'
        ? 'converting the checkpoint'
        : e.stage === 'compile' ? 'compiling kernels' : e.stage === 'tune' ? 'tuning kernels' : e.stage;
  return `Loading ${name}: ${what}…`;
}

/** The numbers, beside the bar. */
function progressDetail(e) {
  if (e.stage === 'download') {
    const mb = (x) => (x / 1e6).toFixed(1);
    return `${mb(e.done)}${e.total ? ` / ${mb(e.total)}` : ''} MB`;
  }
  return `${e.total ? `${e.done}/${e.total}` : e.done}${e.detail ? ` ${e.detail}` : ''}`;
}

function showInfo(name, worker, loadMs) {
  const info = clf.info ?? {};
  const c = info.config ?? {};
  const labels = info.labels ?? [];
  const p = info.preprocess;
  render.facts('info', [
    ['Model', name],
    ['Shape', c.hidden_size ? `ViT, ${c.image_size}×${c.image_size}×${c.num_channels} in, patch ${c.patch_size}, hidden ${c.hidden_size}, ${c.num_layers} layers, ${c.num_heads} heads, MLP ${c.mlp_size}` : '–'],
    ['Classes', labels.length ? `${labels.length}: ${labels.slice(0, 10).join(', ')}${labels.length > 10 ? ', …' : ''}` : 'none (features only)'],
    ['Preprocessing', p ? describePreprocess(p) : '–'],
    ['Adapter', info.adapter || '(not reported)'],
    ['Runs in', worker ? 'a Web Worker' : 'the page (main thread)'],
    ['Weights', info.fromCache ? 'from Cache Storage' : info.source === 'the model bytes' ? 'from the file you chose' : currentModel.id ? 'downloaded from the Hub and converted here' : 'downloaded'],
    ['Load time', `${(loadMs / 1000).toFixed(2)} s`],
  ]);
  showKernels(info.kernels);
}

/** info.kernels: batch size → { matmul shape or op: variant }; the demo runs batch 1. */
function showKernels(kernels = {}) {
  const batches = Object.keys(kernels);
  const rows = [];
  for (const b of batches) {
    for (const [op, variant] of Object.entries(kernels[b])) rows.push([batches.length > 1 ? `batch ${b}: ${op}` : op, String(variant)]);
  }
  render.facts('kernels', rows);
}

/** The preprocessing in words (src/model/preprocess.ts's PreprocessConfig). */
function describePreprocess(p) {
  const parts = [];
  if (p.resize === null) parts.push('no resize');
  else if (typeof p.resize === 'number') parts.push(`resize shorter side to ${p.resize}`);
  else if (p.resize) parts.push(`resize to ${p.resize.width}×${p.resize.height}`);
  parts.push(`crop ${p.crop}`, p.interpolation);
  const nums = (xs) => xs.map((x) => +x.toFixed(3)).join('/');
  if (p.mean) parts.push(`mean ${nums(p.mean)}, std ${nums(p.std)}`);
  if (p.channels) parts.push(String(p.channels));
  return parts.join(', ');
}

const STAGES = ['decode', 'upload', 'preprocess', 'forward', 'readback'];

/**
 * Runs one source: through clf.profile() when stage timing is on and the library has it (each
 * stage timed, per-dispatch GPU times), else clf.classify(). Returns { top, profile? }.
 */
async function run(c, source) {
  if ($('timed').checked && typeof c.profile === 'function') {
    const p = await c.profile(source, { topK: TOP_K });
    return { top: p.top, profile: p };
  }
  return { top: await c.classify(source, { topK: TOP_K }) };
}

/** Classifies one source and draws the result (only the newest of overlapping calls is drawn). */
async function classifyNamed(source, name) {
  if (!clf) return;
  const seq = ++classifySeq;
  const mine = clf;
  if (typeof source === 'string') render.preview(source, name);
  else if (source instanceof Blob) render.preview(URL.createObjectURL(source), name);
  else if (source instanceof HTMLVideoElement) {
    // The frame at this moment, as a bitmap: the preview shows exactly the frame classified.
    // (Chromium on SwiftShader also cannot copy a camera's video element into a WebGPU texture,
    // while it can copy an ImageBitmap of it.)
    source = await createImageBitmap(source);
    render.preview(frameUrl(source), name);
  }
  render.status(`Classifying ${name}…`);
  const t0 = performance.now();
  let out;
  let explanation;
  let totalMs;
  let explainMs = 0;
  try {
    out = await run(mine, source);
    totalMs = performance.now() - t0; // the classification alone, as the stage table says
    // What the model looked at (clf.explain: rollout and each layer's attention), after the timed
    // call so it does not count in the times. A failure here leaves the classification shown.
    if ($('explain').checked && typeof mine.explain === 'function') {
      const te = performance.now();
      explanation = await mine.explain(source).catch((e) => {
        demo.explainErrors.push({ name, message: describeError(e) });
        return undefined;
      });
      explainMs = performance.now() - te;
    }
  } catch (e) {
    demo.errors.push({ name, message: describeError(e) });
    document.body.dataset.errors = String(demo.errors.length);
    if (seq !== classifySeq) return;
    render.resultError(name, describeError(e));
    render.status(`${name} was not classified: ${describeError(e)}`, { error: true });
    return;
  } finally {
    source.close?.(); // a camera frame's bitmap (the library closes only what it made)
  }
  if (seq !== classifySeq || mine !== clf) return;
  const { top, profile } = out;
  if (explanation && seq === classifySeq) showAttention(explanation, mine);
  else $('attention').hidden = true;
  if (!(source instanceof ImageBitmap)) lastShown = { source, name };
  render.result(name, top);
  const stages = profile ? STAGES.filter((s) => profile.stages?.[s] !== undefined).map((s) => [s, profile.stages[s]]) : [];
  render.stages(
    stages,
    totalMs,
    profile
      ? 'Each stage waits for the GPU to finish before the next starts, so this is slower than a plain classify.'
      : typeof mine.profile === 'function'
        ? 'Stage timing is off: the total is one classify() call.'
        : 'This build of webvit does not report stage times; the total is one classify() call.',
  );
  if (profile?.dispatches) render.ops(profile);
  else render.ops(undefined);
  demo.firstResultMs ??= performance.now();
  demo.results.push({ name, top, totalMs, explainMs, wallMs: performance.now() - t0, stages: Object.fromEntries(stages), ops: profile?.dispatches?.length ?? 0, worker: Boolean(mine.info?.worker) });
  render.status(`${name}: ${top[0]?.label ?? '?'} (${totalMs.toFixed(0)} ms).`);
  document.body.dataset.results = String(demo.results.length);
}

/** The fraction of the image's shorter side the model's input covers (centre crop), from its preprocessing. */
function cropFraction(p) {
  if (!p || typeof p.resize !== 'number' || !p.crop) return 1;
  return Math.min(1, p.crop / p.resize);
}

let shownExplanation;

/** Draws an explanation (clf.explain) over the preview; the slider picks rollout (0) or layer k. */
function showAttention(e, c) {
  shownExplanation = { e, crop: cropFraction(c.info?.preprocess) };
  demo.explanation = { grid: e.grid, layers: e.layers.length, source: e.source };
  const slider = $('layer');
  slider.max = String(e.layers.length);
  if (Number(slider.value) > e.layers.length) slider.value = '0';
  $('attention').hidden = false;
  drawAttention();
}

function drawAttention() {
  if (!shownExplanation) return;
  const { e, crop } = shownExplanation;
  const k = Number($('layer').value);
  const map = k === 0 ? e.rollout : e.layers[k - 1];
  const img = $('preview');
  const draw = () => render.attention(img, map, e.grid, crop);
  if (img.complete) draw();
  else img.addEventListener('load', draw, { once: true });
  const mean = (d) => d.reduce((a, b) => a + b, 0) / d.length;
  $('layer-name').textContent = k === 0 ? `rollout over all ${e.layers.length} layers` : `${k} of ${e.layers.length}`;
  $('attention-note').textContent = k === 0 ? `Attention rollout, ${e.source.replace(/^attention rollout,? ?/i, '')}.` : `Layer ${k}'s attention, averaged over its heads (same rows as the rollout).`;
  $('distance').textContent =
    k === 0
      ? `Mean attention distance per layer (px, averaged over heads): ${e.distance.map((d) => mean(d).toFixed(1)).join(', ')}.`
      : `Mean attention distance of layer ${k}'s heads (px): ${Array.from(e.distance[k - 1], (x) => x.toFixed(1)).join(', ')}.`;
  document.body.dataset.attentionLayer = String(k);
}

/** A still of a bitmap, for the preview. */
function frameUrl(bitmap) {
  const c = document.createElement('canvas');
  c.width = bitmap.width;
  c.height = bitmap.height;
  c.getContext('2d').drawImage(bitmap, 0, 0);
  return c.toDataURL('image/jpeg', 0.85);
}

start().catch((e) => fatal(`The demo failed to start: ${describeError(e)}`));
