#!/usr/bin/env node
// Parity of the bundled Fashion-MNIST model against PyTorch, over all 10,000 test images.
//
// Runs every test image through the same path `webvit classify` uses (GPU preprocessing from the
// weight file's `webvit.preprocess` straight into the model's input, the forward pass, softmax and
// top-K on the GPU) and compares with the top-1 predictions PyTorch made when the model was
// trained (models/fashion-mnist/pytorch_test_predictions.bin, written by
// tools/train_fashion_mnist.py from the exported file). Also runs the CPU path (pixels read back,
// logits read back, softmax and top-K in src/model/topk.ts) and counts the images whose full
// ranking of the classes differs between the two.
// Required: top-1 agreement ≥ 99.9 %, accuracy within 0.1 points of PyTorch's, no ranking differing.
//
// --dtype int8,q4 (issue 21): the model is also written as int8 and q4 weight files by the
// converter's encoder (as `webvit convert --dtype` writes them), each loaded and run through the same
// path, and its top-1 compared with the f32 model's over the 10,000 images. Required: int8 agrees
// with f32 on ≥ 99.5 % of them, q4 on ≥ 98 % (the floors).
//
//   npm run build && node tools/parity_fashion_mnist.mjs [--model FILE] [--data DIR] [--batch N] [--dtype int8,q4]
//
// Needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** A clear line and exit 1, for what a user can fix (no stack). */
function fail(message) {
  process.stderr.write(`parity: ${message}\n`);
  process.exit(1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let values;
try {
  ({ values } = parseArgs({ options: { model: { type: 'string' }, data: { type: 'string' }, batch: { type: 'string' }, dtype: { type: 'string' } } }));
} catch (e) {
  fail(`${e.message}; usage: node tools/parity_fashion_mnist.mjs [--model FILE] [--data DIR] [--batch N] [--dtype int8,q4]`);
}
const modelPath = values.model ?? join(root, 'models/fashion-mnist/model.safetensors');
const dataDir = values.data ?? '/usr/share/datasets/fashion-mnist';
const batch = Number(values.batch ?? 500);
if (!Number.isInteger(batch) || batch < 1) fail(`--batch must be a positive integer, got "${values.batch}"`);
/** The quantised kinds to check, with the share of images whose top-1 must equal f32's. */
const FLOORS = { int8: 0.995, q4: 0.98 };
const dtypes = values.dtype === undefined ? [] : values.dtype.split(',');
for (const d of dtypes) if (!(d in FLOORS)) fail(`--dtype takes int8, q4 or int8,q4, got "${values.dtype}"`);

// Everything the run reads, checked before the GPU starts.
const imagesFile = join(dataDir, 't10k-images-idx3-ubyte.gz');
const labelsFile = join(dataDir, 't10k-labels-idx1-ubyte.gz');
const predsPath = join(dirname(modelPath), 'pytorch_test_predictions.bin');
const missingData = [imagesFile, labelsFile].filter((f) => !existsSync(f));
if (missingData.length) {
  fail(
    `the Fashion-MNIST test set is missing (${missingData.join(', ')}). It comes from Debian's dataset-fashion-mnist package: ` +
      '`apt-get install dataset-fashion-mnist` (as root), then rerun `npm run parity`; or pass --data DIR, a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.',
  );
}
if (!existsSync(modelPath)) fail(`${modelPath}: model file not found (--model FILE chooses another)`);
if (!existsSync(predsPath)) fail(`${predsPath}: PyTorch's test predictions for this model are missing (tools/train_fashion_mnist.py writes them next to the model)`);
const distEntry = join(root, 'dist', 'node.js');
if (!existsSync(distEntry)) fail(`${distEntry} is missing: run \`npm run build\` (\`npm run parity\` builds first)`);
const { getNodeDevice, loadModelFile, ImagePreprocessor, topK, readWeightFile, encodeWeights } = await import(distEntry);

function readIdx(path) {
  const b = gunzipSync(readFileSync(path));
  const dims = b[3];
  const shape = Array.from({ length: dims }, (_, i) => b.readUInt32BE(4 + 4 * i));
  return { shape, data: b.subarray(4 + 4 * dims) };
}

const images = readIdx(imagesFile);
const labels = readIdx(labelsFile).data;
const [n, h, w] = images.shape;
const predsFile = readFileSync(predsPath);
const torchTop1 = new Int32Array(predsFile.buffer.slice(predsFile.byteOffset, predsFile.byteOffset + 4 * n));

const t0 = performance.now();
const device = await getNodeDevice();
const model = await loadModelFile(device, modelPath, { batch });
const pre = new ImagePreprocessor(device, model.preprocess);
let agree = 0;
let rankingDiffers = 0;
let correct = 0;
let torchCorrect = 0;
const disagreements = [];
const webvitTop1 = new Int32Array(n);

/** The classify path's K pairs of each image, batch by batch (`each(start, top)`). */
async function classifyAll(model, pre, each) {
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const { top } = await model.forward(pre.input(count, async (put) => { for (let i = 0; i < count; i++) await put(rgbaOf(start + i), `image ${start + i}`); }), { topK: model.numClasses });
    await each(start, top);
    process.stderr.write(`\r${start + count}/${n}`);
  }
  process.stderr.write('\n');
}

function rgbaOf(k) {
  const g = images.data.subarray(k * h * w, (k + 1) * h * w);
  const rgba = new Uint8Array(4 * h * w);
  for (let p = 0; p < h * w; p++) rgba.set([g[p], g[p], g[p], 255], 4 * p);
  return { width: w, height: h, rgba };
}

for (let start = 0; start < n; start += batch) {
  const count = Math.min(batch, n - start);
  const rgbaImages = [];
  for (let i = 0; i < count; i++) {
    const g = images.data.subarray((start + i) * h * w, (start + i + 1) * h * w);
    const rgba = new Uint8Array(4 * h * w);
    for (let p = 0; p < h * w; p++) rgba.set([g[p], g[p], g[p], 255], 4 * p);
    rgbaImages.push({ width: w, height: h, rgba });
  }
  const numClasses = model.numClasses;
  // classify's path: nothing but K (class, probability) pairs per image comes back.
  const { top } = await model.forward(pre.input(count, async (put) => { for (const [i, img] of rgbaImages.entries()) await put(img, `image ${start + i}`); }), { topK: numClasses });
  // The CPU path it replaced: pixels and logits read back, top-K on the CPU.
  const { logits } = await model.forward(await pre.run(rgbaImages), { batch: count });
  const cpuTop = topK(logits, numClasses, numClasses);
  for (let i = 0; i < count; i++) {
    const best = top[i][0].index;
    if (top[i].some((e, j) => e.index !== cpuTop[i][j].index)) rankingDiffers++;
    const k = start + i;
    webvitTop1[k] = best;
    if (best === torchTop1[k]) agree++;
    else disagreements.push({ index: k, webvit: best, pytorch: torchTop1[k] });
    if (best === labels[k]) correct++;
    if (torchTop1[k] === labels[k]) torchCorrect++;
  }
  process.stderr.write(`\r${start + count}/${n}`);
}
process.stderr.write('\n');
const seconds = (performance.now() - t0) / 1000;
const result = {
  images: n,
  top1Agreement: agree / n,
  gpuCpuRankingsDiffering: rankingDiffers,
  webvitAccuracy: correct / n,
  pytorchAccuracy: torchCorrect / n,
  accuracyDifferencePoints: (100 * (correct - torchCorrect)) / n,
  disagreements: disagreements.slice(0, 20),
  seconds,
  kernels: model.kernels(batch),
};
console.log(JSON.stringify(result, null, 1));
await model.dispose();
let ok = result.top1Agreement >= 0.999 && Math.abs(result.accuracyDifferencePoints) <= 0.1 && rankingDiffers === 0;
console.log(ok ? 'PASS: agreement ≥ 99.9 %, accuracy within 0.1 points, GPU and CPU top-K identical' : 'FAIL');

if (dtypes.length) {
  const { mkdtempSync, writeFileSync, rmSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'webvit-parity-'));
  try {
    const { weights, bytes } = await readWeightFile(modelPath);
    // The file's own metadata (its preprocessing and anything else it states) goes with it, as
    // `webvit convert --dtype` keeps it.
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))));
    const { format, 'webvit.version': _v, 'webvit.config': _c, 'webvit.labels': _l, ...extra } = head.__metadata__;
    const quantised = {};
    for (const d of dtypes) {
      const file = join(dir, `model.${d}.safetensors`);
      writeFileSync(file, encodeWeights(weights, d, extra));
      const t1 = performance.now();
      const m = await loadModelFile(device, file, { batch });
      const p = new ImagePreprocessor(device, m.preprocess);
      let same = 0;
      let right = 0;
      const differ = [];
      await classifyAll(m, p, (start, top) => {
        top.forEach((row, i) => {
          const k = start + i;
          if (row[0].index === webvitTop1[k]) same++;
          else if (differ.length < 20) differ.push({ index: k, [d]: row[0].index, f32: webvitTop1[k], label: labels[k] });
          if (row[0].index === labels[k]) right++;
        });
      });
      await p.dispose();
      await m.dispose();
      quantised[d] = { bytes: statSync(file).size, top1AgreementWithF32: same / n, floor: FLOORS[d], accuracy: right / n, f32Accuracy: correct / n, disagreements: differ, seconds: (performance.now() - t1) / 1000 };
      const pass = same / n >= FLOORS[d];
      ok &&= pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}: ${d} agrees with f32 on ${(100 * same / n).toFixed(2)} % of the top-1s (floor ${100 * FLOORS[d]} %); accuracy ${(100 * right / n).toFixed(2)} % (f32 ${(100 * correct / n).toFixed(2)} %)`);
    }
    console.log(JSON.stringify({ quantised }, null, 1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
device.destroy();
process.exit(ok ? 0 : 1);
