#!/usr/bin/env node
// How good the bundled Fashion-MNIST model's embeddings are: k-nearest-neighbour classification.
//
// Runs every Fashion-MNIST image (60,000 train, 10,000 test) through the same path `webvit
// classify` uses (GPU preprocessing from the weight file's `webvit.preprocess` straight into the
// model's input, then the forward pass) and keeps each image's features: the pooled, normalised
// class token, what the web API's `clf.embed()` returns. Each embedding is L2-normalised; every
// test image is then classified by a majority vote of its k most similar train images (cosine
// similarity: the dot product; ties broken by the tied classes' summed similarity, then the
// smallest label), for k = 1, 5 and 10 (tools/knn.mjs). The same forward passes give the logits,
// so the model's own classifier's top-1 accuracy on the test images comes from the same run.
//
//   npm run build && node tools/knn_fashion_mnist.mjs [--model FILE] [--data DIR] [--batch N] [--limit N] [--out FILE]
//
// --limit N uses only the first N train images and the first N/6 test images (a quick check).
// --out FILE writes the results as JSON. Needs the Debian package dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { knnClassify, normalise } from './knn.mjs';

/** A clear line and exit 1, for what a user can fix (no stack). */
function fail(message) {
  process.stderr.write(`knn: ${message}\n`);
  process.exit(1);
}

const KS = [1, 5, 10];
const usage = 'usage: node tools/knn_fashion_mnist.mjs [--model FILE] [--data DIR] [--batch N] [--limit N] [--out FILE]';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let values;
try {
  ({ values } = parseArgs({
    options: { model: { type: 'string' }, data: { type: 'string' }, batch: { type: 'string' }, limit: { type: 'string' }, out: { type: 'string' } },
  }));
} catch (e) {
  fail(`${e.message}; ${usage}`);
}
const modelPath = values.model ?? join(root, 'models/fashion-mnist/model.safetensors');
const dataDir = values.data ?? '/usr/share/datasets/fashion-mnist';
const batch = Number(values.batch ?? 500);
if (!Number.isInteger(batch) || batch < 1) fail(`--batch must be a positive integer, got "${values.batch}"`);
const limit = values.limit === undefined ? undefined : Number(values.limit);
if (limit !== undefined && (!/^\d+$/.test(values.limit) || !Number.isSafeInteger(limit) || limit < Math.max(...KS))) {
  fail(`--limit must be an integer of at least ${Math.max(...KS)} (train images: the gallery needs k = ${Math.max(...KS)} of them), got "${values.limit}"`);
}
if (values.out === '') fail('--out needs a file name');

// Everything the run reads, checked before the GPU starts.
const files = {
  trainImages: join(dataDir, 'train-images-idx3-ubyte.gz'),
  trainLabels: join(dataDir, 'train-labels-idx1-ubyte.gz'),
  testImages: join(dataDir, 't10k-images-idx3-ubyte.gz'),
  testLabels: join(dataDir, 't10k-labels-idx1-ubyte.gz'),
};
const missingData = Object.values(files).filter((f) => !existsSync(f));
if (missingData.length) {
  fail(
    `the Fashion-MNIST data set is missing (${missingData.join(', ')}). It comes from Debian's dataset-fashion-mnist package: ` +
      '`apt-get install dataset-fashion-mnist` (as root), then rerun; or pass --data DIR, a folder with train-images-idx3-ubyte.gz, ' +
      'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.',
  );
}
if (!existsSync(modelPath)) fail(`${modelPath}: model file not found (--model FILE chooses another)`);
if (values.out && !existsSync(dirname(values.out) || '.')) fail(`--out ${values.out}: folder ${dirname(values.out)} does not exist`);
const distEntry = join(root, 'dist', 'node.js');
if (!existsSync(distEntry)) fail(`${distEntry} is missing: run \`npm run build\` (\`npm run knn\` builds first)`);
const { getNodeDevice, loadModelFile, ImagePreprocessor } = await import(distEntry);

function readIdx(path) {
  let b;
  try {
    b = gunzipSync(readFileSync(path));
  } catch (e) {
    fail(`${path}: not a gzipped IDX file (${e.message})`);
  }
  const dims = b[3];
  const shape = Array.from({ length: dims }, (_, i) => b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * dims);
  if (b.readUInt16BE(0) !== 0 || b[2] !== 0x08 || data.length !== shape.reduce((x, y) => x * y, 1)) fail(`${path}: not an IDX file of unsigned bytes`);
  return { shape, data };
}

/** Images and labels of one split, the first `count` of them when given. */
function split(imagesFile, labelsFile, count) {
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile).data;
  const [n, h, w] = images.shape;
  if (images.shape.length !== 3 || labels.length !== n) fail(`${imagesFile}: ${n} images of shape ${images.shape.slice(1).join('×')} but ${labels.length} labels`);
  const m = Math.min(n, count ?? n);
  return { n: m, h, w, pixels: images.data.subarray(0, m * h * w), labels: labels.subarray(0, m) };
}

const train = split(files.trainImages, files.trainLabels, limit);
const test = split(files.testImages, files.testLabels, limit === undefined ? undefined : Math.max(1, Math.floor(limit / 6)));

const device = await getNodeDevice();
const model = await loadModelFile(device, modelPath, { batch });
const pre = new ImagePreprocessor(device, model.preprocess);
const numClasses = model.numClasses;

/**
 * Features (and with logits, the top-1 class) of every image of a split, through classify's
 * path: the preprocessor writes each batch's pixels into the model's input on the GPU.
 */
async function embed(s, name, done, total) {
  let dim = 0;
  let features;
  const top1 = new Int32Array(s.n);
  for (let start = 0; start < s.n; start += batch) {
    const count = Math.min(batch, s.n - start);
    const images = [];
    for (let i = 0; i < count; i++) {
      const g = s.pixels.subarray((start + i) * s.h * s.w, (start + i + 1) * s.h * s.w);
      const rgba = new Uint8Array(4 * s.h * s.w);
      for (let p = 0; p < s.h * s.w; p++) rgba.set([g[p], g[p], g[p], 255], 4 * p);
      images.push({ width: s.w, height: s.h, rgba });
    }
    const r = await model.forward(pre.input(count, async (put) => { for (const [i, img] of images.entries()) await put(img, `${name} image ${start + i}`); }), { features: true });
    if (!features) {
      dim = r.features.length / count;
      features = new Float32Array(s.n * dim);
    }
    features.set(r.features, start * dim);
    for (let i = 0; numClasses && i < count; i++) {
      let best = 0;
      for (let c = 1; c < numClasses; c++) if (r.logits[i * numClasses + c] > r.logits[i * numClasses + best]) best = c;
      top1[start + i] = best;
    }
    process.stderr.write(`\rembedding ${done + start + count}/${total}`);
  }
  return { features, dim, top1 };
}

const t0 = performance.now();
const trainOut = await embed(train, 'train', 0, train.n + test.n);
const testOut = await embed(test, 'test', train.n, train.n + test.n);
process.stderr.write('\n');
const embedSeconds = (performance.now() - t0) / 1000;
await model.dispose();
device.destroy();

const dim = trainOut.dim;
const t1 = performance.now();
const gallery = normalise(trainOut.features, dim);
const queries = normalise(testOut.features, dim);
const { predictions } = knnClassify(gallery, train.labels, queries, dim, KS, {
  onProgress: (d, n) => process.stderr.write(`\rsearch ${d}/${n}`),
});
process.stderr.write('\n');
const searchSeconds = (performance.now() - t1) / 1000;

const accuracy = {};
KS.forEach((k, i) => {
  let correct = 0;
  for (let q = 0; q < test.n; q++) if (predictions[i][q] === test.labels[q]) correct++;
  accuracy[k] = correct / test.n;
});
let classifierCorrect = 0;
for (let q = 0; q < test.n; q++) if (testOut.top1[q] === test.labels[q]) classifierCorrect++;
const result = {
  model: relative(process.cwd(), modelPath) || modelPath,
  embeddingWidth: dim,
  gallery: train.n,
  queries: test.n,
  similarity: 'cosine (L2-normalised features, dot product)',
  accuracy,
  classifierAccuracy: numClasses ? classifierCorrect / test.n : null,
  seconds: { embedding: Number(embedSeconds.toFixed(1)), search: Number(searchSeconds.toFixed(1)) },
};

const pct = (x) => `${(100 * x).toFixed(2)} %`;
console.log(`${result.model}: embeddings ${dim} wide, ${train.n} train images as the gallery, ${test.n} test images as queries`);
console.log('');
console.log('method              test accuracy');
for (const k of KS) console.log(`${`kNN, k = ${k}`.padEnd(20)}${pct(accuracy[k]).padStart(13)}`);
console.log(`${'classifier (top-1)'.padEnd(20)}${(numClasses ? pct(result.classifierAccuracy) : 'no classifier').padStart(13)}`);
console.log('');
console.log(`embedding ${result.seconds.embedding} s, search ${result.seconds.search} s`);
if (values.out) {
  writeFileSync(values.out, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`wrote ${values.out}`);
}
