// One engine on one model in its own Node process, so that every engine starts cold and none
// shares a device, a wasm heap or a pipeline cache with another. bench/peers/run.mjs forks it and
// drives it over the IPC channel (messages {id, cmd, arg} -> {id, value} or {id, error}; cmd is a
// method of measure.mjs's Runner: start, prepare, time, timePipeline, hasPipeline, dispose).
//
//   node bench/peers/node-job.mjs --engine NAME --model vit_ti16   (forked by run.mjs)
//
// Engines (all in Node):
//   webvit           dist/node.js on Dawn (npm `webgpu`)                       - WebGPU, dawn.node
//   ort-webgpu       onnxruntime-web, WebGPU EP, on the same dawn.node         - WebGPU, dawn.node
//   ort-wasm         onnxruntime-web, WASM EP (SIMD, threads)                  - CPU
//   ort-node         onnxruntime-node, CPU EP                                  - CPU (native)
//   tjs-webgpu       transformers.js, device 'webgpu' (in Node that is onnxruntime-node's own
//                    WebGPU EP: a Dawn inside libonnxruntime, on the same Vulkan driver)
//   tjs-webgpu-dawn  transformers.js, device 'webgpu', with onnxruntime-web on dawn.node injected
//                    through globalThis[Symbol.for('onnxruntime')] (the same Dawn as webvit)
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createRunner } from './measure.mjs';

const REPO = resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string' },
    model: { type: 'string' },
    peers: { type: 'string', default: join(REPO, 'test', 'fixtures', 'generated', 'peers') },
    tol: { type: 'string', default: '1e-3' },
  },
});
const log = (m) => process.stderr.write(`[node ${args.engine} ${args.model}] ${m}\n`);

async function loadFixture(dir, model) {
  const folder = join(dir, model);
  const golden = JSON.parse(await readFile(join(folder, 'golden.json'), 'utf8'));
  const raw = await readFile(join(folder, 'input.bin'));
  const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const c = golden.config;
  return {
    model,
    folder,
    config: c,
    input,
    golden: Float64Array.from(golden.logits.flat()),
    classes: c.num_classes,
    per: c.num_channels * c.image_size * c.image_size,
  };
}

/** dawn.node as navigator.gpu, with the SharedArrayBuffer catch of writeBuffer worked around. */
let dawnGpu;
function installDawnNavigator() {
  if (dawnGpu) return dawnGpu;
  const { create, globals } = require('webgpu');
  Object.assign(globalThis, globals);
  dawnGpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawnGpu, hardwareConcurrency: availableParallelism() }, configurable: true });
  // dawn.node's writeBuffer rejects views of a SharedArrayBuffer (ORT's threaded wasm memory)
  // with "Invalid argument": copy such data into a plain ArrayBuffer first.
  const write = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset, size) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && (data instanceof SharedArrayBuffer || data?.buffer instanceof SharedArrayBuffer);
    if (shared) {
      if (ArrayBuffer.isView(data)) {
        const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
        data = new data.constructor(copy);
      } else {
        data = new Uint8Array(data).slice().buffer;
      }
    }
    return dataOffset === undefined ? write.call(this, buffer, offset, data) : write.call(this, buffer, offset, data, dataOffset, size);
  };
  return dawnGpu;
}

async function dawnAdapterInfo() {
  const a = await installDawnNavigator().requestAdapter();
  const i = a?.info ?? {};
  return { api: 'dawn.node', vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
}

/** The onnxruntime-web package folder as `from` resolves it (its exports hide package.json). */
const ortWebDir = (from = REPO) => dirname(dirname(createRequire(join(from, 'package.json')).resolve('onnxruntime-web')));
const ortVersion = (dir) => JSON.parse(require('node:fs').readFileSync(join(dir, 'package.json'), 'utf8')).version;

function ortSession(ort, bytes, options, info) {
  return ort.InferenceSession.create(bytes, options).then((s) => ({
    info,
    async run(x, batch) {
      const r = await s.run({ pixel_values: new ort.Tensor('float32', x, [batch, 3, 224, 224]) });
      return r.logits.data;
    },
    dispose: () => s.release(),
  }));
}

const ENGINES = {
  webvit: async (fx) => {
    const webvit = await import(pathToFileURL(join(REPO, 'dist', 'node.js')).href);
    const bytes = await readFile(join(fx.folder, 'model.safetensors'));
    return {
      name: 'webvit',
      async create() {
        const device = await webvit.getNodeDevice();
        const model = await webvit.ViTModel.load(device, bytes, { batch: 1, label: fx.model });
        const i = device.adapterInfo ?? {};
        return {
          info: { api: 'dawn.node', vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, pipelines: model.pipelineCount },
          run: async (x, batch) => (await model.forward(x, { batch })).logits,
          dispose: () => model.dispose(),
        };
      },
    };
  },
  'ort-webgpu': async (fx) => {
    installDawnNavigator();
    const dir = ortWebDir();
    const ort = await import(pathToFileURL(join(dir, 'dist', 'ort.webgpu.min.mjs')).href);
    ort.env.logLevel = 'error';
    const bytes = await readFile(join(fx.folder, 'model.onnx'));
    const adapter = await dawnAdapterInfo();
    return {
      name: 'ort-webgpu',
      create: () => ortSession(ort, bytes, { executionProviders: ['webgpu'] }, { ...adapter, ort: ortVersion(dir), ep: 'webgpu' }),
    };
  },
  'ort-wasm': async (fx) => {
    const dir = ortWebDir();
    const ort = await import(pathToFileURL(join(dir, 'dist', 'ort.node.min.mjs')).href);
    ort.env.logLevel = 'error';
    ort.env.wasm.numThreads = availableParallelism();
    const bytes = await readFile(join(fx.folder, 'model.onnx'));
    return {
      name: 'ort-wasm',
      create: () => ortSession(ort, bytes, { executionProviders: ['wasm'] }, { api: 'wasm (CPU)', ort: ortVersion(dir), ep: 'wasm', threads: ort.env.wasm.numThreads }),
    };
  },
  'ort-node': async (fx) => {
    const ort = require('onnxruntime-node');
    const bytes = await readFile(join(fx.folder, 'model.onnx'));
    const dir = dirname(dirname(require.resolve('onnxruntime-node')));
    return {
      name: 'ort-node',
      create: () => ortSession(ort, bytes, { executionProviders: ['cpu'] }, { api: 'native (CPU)', ort: ortVersion(dir), ep: 'cpu' }),
    };
  },
  'tjs-webgpu': (fx) => transformersEngine(fx, 'tjs-webgpu', false),
  'tjs-webgpu-dawn': (fx) => transformersEngine(fx, 'tjs-webgpu-dawn', true),
};

async function transformersEngine(fx, name, injectOrtWeb) {
  const tjsDir = dirname(dirname(require.resolve('@huggingface/transformers')));
  let info = { api: 'onnxruntime-node WebGPU EP (its own Dawn, on the default Vulkan adapter)' };
  if (injectOrtWeb) {
    // transformers.js uses an ONNX Runtime found under this symbol instead of onnxruntime-node.
    installDawnNavigator();
    const dir = ortWebDir(tjsDir);
    const ort = await import(pathToFileURL(join(dir, 'dist', 'ort.webgpu.min.mjs')).href);
    ort.env.logLevel = 'error';
    // Otherwise transformers.js points wasmPaths at a CDN (https:), which Node cannot import.
    ort.env.wasm.wasmPaths = pathToFileURL(join(dir, 'dist') + '/').href;
    // In Node transformers.js hands ONNX Runtime a file path (onnxruntime-node's way); ORT Web
    // would fetch() it as a URL: read the file for it.
    const InferenceSession = {
      create: async (model, options) => ort.InferenceSession.create(typeof model === 'string' ? new Uint8Array(await readFile(model)) : model, options),
    };
    globalThis[Symbol.for('onnxruntime')] = { ...ort, InferenceSession };
    info = { ...(await dawnAdapterInfo()), api: 'onnxruntime-web WebGPU EP on dawn.node', ort: ortVersion(dir) };
  } else {
    info.ort = ortVersion(dirname(dirname(createRequire(join(tjsDir, 'package.json')).resolve('onnxruntime-node'))));
  }
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = args.peers + '/';
  tjs.env.useBrowserCache = false;
  tjs.env.useFSCache = false;
  info.transformers = tjs.env.version;
  const S = fx.config.image_size;
  const pixels = new Uint8ClampedArray(S * S * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  const image = new tjs.RawImage(pixels, S, S, 3);
  return {
    name,
    async create() {
      // With an injected ONNX Runtime, transformers.js lists no devices and refuses device 'webgpu'
      // ("Unsupported device"); 'auto' plus explicit execution providers gets past that.
      const options = injectOrtWeb
        ? { device: 'auto', dtype: 'fp32', session_options: { executionProviders: ['webgpu'] } }
        : { device: 'webgpu', dtype: 'fp32' };
      const classifier = await tjs.pipeline('image-classification', `${fx.model}/hf`, options);
      return {
        info,
        async run(x, batch) {
          const out = await classifier.model({ pixel_values: new tjs.Tensor('float32', x, [batch, 3, S, S]) });
          return out.logits.data;
        },
        pipelineRun: () => classifier(image, { top_k: 5 }),
        dispose: () => classifier.dispose(),
      };
    },
  };
}

if (!process.send) throw new Error('node-job.mjs is forked by bench/peers/run.mjs (it needs the IPC channel)');
const fx = await loadFixture(args.peers, args.model);
const make = ENGINES[args.engine];
let runner;
let setupError;
try {
  if (!make) throw new Error(`unknown engine ${args.engine}; one of ${Object.keys(ENGINES).join(', ')}`);
  runner = createRunner(await make(fx), fx, { tol: Number(args.tol), log });
} catch (e) {
  setupError = e;
}
process.on('message', async ({ id, cmd, arg }) => {
  try {
    if (cmd === 'start' && setupError) {
      process.send({ id, value: { engine: args.engine, model: args.model, ok: false, failure: String(setupError?.message ?? setupError), stack: String(setupError?.stack ?? '') } });
      return;
    }
    const value = await runner[cmd](arg);
    process.send({ id, value: cmd === 'start' ? { ...value, where: 'node', node: process.version } : value });
    // ORT's wasm worker threads and Dawn keep the event loop alive.
    if (cmd === 'dispose') setTimeout(() => process.exit(0), 100);
  } catch (e) {
    process.send({ id, error: String(e?.stack ?? e).slice(0, 4000) });
  }
});
process.send({ ready: true });
