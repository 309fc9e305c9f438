import { basename, extname, join } from 'node:path';
import { decodeImage, DEFAULT_MAX_PIXELS, RgbaPool } from '../image/decode.js';
import { ImagePreprocessor } from '../image/preprocessor.js';
import { patchFilterComponents, positionSimilarity } from '../model/analysis.js';
import { shapeOf } from '../model/config.js';
import { explainLimits, type AttentionExplanation } from '../model/explain.js';
import { ViTModel } from '../model/vit.js';
import { readWeightFile } from '../model/weight_file.js';
import { modelOption } from './model_arg.js';
import { getNodeDevice } from '../runtime/node-device.js';
import { WebvitError } from '../runtime/errors.js';
import { expand, modelPathOrBundled, pixelCount, readImage, type Item } from './classify.js';
import { jsonText, messageLine, printable, shown, shownLabel } from './shown.js';
import { distancePlot } from './figures/distance_plot.js';
import { filterTiles } from './figures/filter_tiles.js';
import { overlayPng } from './figures/overlay.js';
import { similarityGrid } from './figures/similarity_grid.js';
import { f32, meanDistance, rows, uniformAttentionDistance } from './figures/attention_summary.js';
import { Progress } from './progress.js';
import { parseCommandLine, positiveInt, TUNE_USAGE, tuneOption, UsageError } from './usage.js';
import { outputThatIsAnInput, prepareOutputFolder, WriteBatch } from './write_output.js';

export const EXPLAIN_USAGE = `  webvit explain IMAGE... -o DIR [--model FILE] [--layer L] [--json] [--batch N]
                  [--max-pixels N] [--tune | --no-tune]
      What the model sees (the ViT paper's section 4.5; docs/explain.md). Writes to DIR, per image,
      NAME.attention.png: the image as the model saw it and the attention rollout from the class
      token over it (mean-pooled models: the mean over patch queries); per model,
      attention-distance.svg (mean attention distance of every head by layer, averaged over the
      images), position-similarity.svg (cosine similarity of the position embeddings),
      filter-components.svg (top principal components of the patch-embedding filters) and
      explain.json with every number behind them. Prints each image's map as a grid of numbers
      (scaled to max 1), or with --json the JSON. Attention is computed on the GPU.
      --layer L: the head-averaged attention of layer L alone (1 = first) instead of the rollout.
      --batch N: images per explain pass (default 8). Without --model: the bundled model.
      No output may be an input (DIR holding photo.png and photo.attention.png is refused):
      give -o a folder of its own.
      ${TUNE_USAGE}
`;

const DEFAULT_BATCH = 8;

/** explain picks every name it writes in DIR: a symlink there is refused, never followed. */
const PICKED = { follow: false } as const;

/** Longest file name (bytes) most file systems take; a map's name is cut to fit. */
const NAME_MAX = 255;

/** The per-model files written into DIR. */
const MODEL_FIGURES = ['attention-distance.svg', 'position-similarity.svg', 'filter-components.svg', 'explain.json'] as const;

interface ImageResult {
  file: string;
  error?: string;
  png?: string;
  /** [G][G] the raw map (rollout or the layer's attention), and divided by its max. */
  map?: number[][];
  mapScaled?: number[][];
  /** [layer][head] this image's mean attention distance in pixels. */
  distance?: number[][];
  /** The model's top class for the image (from the same pass), when it has a classifier. */
  top?: { label: string | null; index: number; p: number };
}

/** `webvit explain IMAGE... -o DIR`: the attention and model-level figures of the ViT paper. */
export async function explainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      revision: { type: 'string' },
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
      layer: { type: 'string', short: 'l' },
      batch: { type: 'string', short: 'b' },
      'max-pixels': { type: 'string' },
      tune: { type: 'boolean' },
      'no-tune': { type: 'boolean' },
    },
  });
  if (positionals.length === 0) throw new UsageError('explain needs at least one IMAGE (a PNG/JPEG file or a directory of them)');
  if (!values.out) throw new UsageError('explain needs -o DIR: where to write the figures and explain.json');
  const outDir = values.out;
  const layerNumber = positiveInt('layer', values.layer);
  const batchSize = positiveInt('batch', values.batch) ?? DEFAULT_BATCH;
  const maxPixels = pixelCount(values['max-pixels']) ?? DEFAULT_MAX_PIXELS;
  const tune = tuneOption(values);
  const json = values.json ?? false;

  const { path: modelPath } = await modelOption(values.model, values.revision, () => modelPathOrBundled(undefined));
  const { weights } = await readWeightFile(modelPath);
  const c = weights.config;
  const s = shapeOf(c);
  if (c.num_channels !== 1 && c.num_channels !== 3) {
    throw new WebvitError('BAD_CONFIG', `${modelPath}: takes ${c.num_channels}-channel images; explain handles 1-channel (greyscale) and 3-channel (RGB) models`);
  }
  if (layerNumber !== undefined && layerNumber > c.num_layers) {
    throw new UsageError(`--layer ${layerNumber}: ${modelPath} has ${c.num_layers} layer${c.num_layers === 1 ? '' : 's'} (1 to ${c.num_layers})`);
  }
  const items = await expand(positionals);
  // Every file this run would write, named before any work, and none of them may be an input
  // (photo.attention.png in a folder explained into itself is photo.png's map and an image).
  const names = new Set<string>();
  const pngOf = new Map(items.filter((it) => !it.error).map((it) => [it, uniqueName(it.file, names)]));
  const outputs: [string, string][] = [
    ...[...pngOf].map(([it, png]) => [join(outDir, png), `the attention map of ${it.file}`] as [string, string]),
    ...MODEL_FIGURES.map((f) => [join(outDir, f), f] as [string, string]),
  ];
  const clash = await outputThatIsAnInput(outputs.map(([p]) => p), [modelPath, ...items.map((it) => it.file)]);
  if (clash) {
    const [out, input] = clash;
    const role = outputs.find(([p]) => p === out)![1];
    throw new UsageError(
      `-o ${outDir}: ${out} (${role}) would overwrite ${input === out ? 'that input' : `the input ${input}`}, which explain reads; choose an output folder that holds no input`,
    );
  }
  const batch = Math.min(batchSize, Math.max(1, items.length));
  // Meaningless shapes (a single patch) and batches whose attention matrices would not fit are
  // refused here, before the GPU work, with the numbers.
  explainLimits(c, batch);
  // The folder and every file in it this run would write, checked before the GPU work: a refusal
  // (a FIFO, device or symlink as explain.json, a name too long) writes nothing.
  await prepareOutputFolder(outDir, '-o', outputs.map(([p]) => p));

  // Every file goes through one batch: written and synced as it comes, renamed into place only
  // once all are written, so a failure (a full disk) leaves the folder exactly as it was.
  const writes = new WriteBatch(PICKED);
  try {
    return await explainInto(writes);
  } catch (e) {
    writes.abort();
    throw e instanceof WebvitError && e.code === 'IO' ? new WebvitError('IO', `${e.message.replace(/; nothing was written, .* is as it was$/, '')}; nothing in ${outDir} was replaced (explain writes its files together)`, { cause: e }) : e;
  }

  async function explainInto(staged: WriteBatch): Promise<number> {
    const results: ImageResult[] = [];
    let source = '';
    const progress = new Progress(items.length, 'images');
    const t0 = performance.now();
    const device = await getNodeDevice();
    let model: ViTModel | undefined;
    let pre: ImagePreprocessor | undefined;
    try {
      explainLimits(c, batch, device.limits); // the device's own buffer limits too
      model = await ViTModel.fromWeights(device, weights, { label: 'model', batch, tune, onProgress: (e) => progress.loadStage(e) });
      pre = new ImagePreprocessor(device, model.preprocess);
      const pool = new RgbaPool();
      const per = s.imageValues;
      for (let b0 = 0; b0 < items.length; b0 += batch) {
        const chunk = items.slice(b0, b0 + batch);
        // Unfilled slots stay zero; their results are not used.
        const input = new Float32Array(batch * per);
        const slots = chunk.map(() => -1);
        let n = 0;
        for (const [i, it] of chunk.entries()) {
          if (it.error) continue;
          try {
            await pre.runInto(await decodeImage(await readImage(it.file, maxPixels), it.file, { maxPixels, pool }), input, n, `image${n}`);
            slots[i] = n++;
          } catch (e) {
            if (!(e instanceof WebvitError)) throw e;
            it.error = e.message.startsWith(`${it.file}: `) ? e.message.slice(it.file.length + 2) : e.message;
          }
        }
        const ex = n > 0 ? await model.explain(input, { batch, ...(layerNumber !== undefined ? { layer: layerNumber - 1 } : {}) }) : undefined;
        if (ex) source = ex.source;
        for (const [i, it] of chunk.entries()) {
          if (slots[i] < 0) results.push({ file: it.file, error: it.error });
          else results.push(await imageResult(staged, it, slots[i], ex!, input.subarray(slots[i] * per, (slots[i] + 1) * per), model.preprocess, join(outDir, pngOf.get(it)!), model.labels));
          progress.update(results.length);
        }
      }
    } finally {
      progress.clear();
      await pre?.dispose();
      await model?.dispose();
      device.destroy(); // the CLI made this device
    }

    // Per model: the distance plot (over the images that worked) and the two weight-only figures.
    const good = results.filter((r) => !r.error);
    const mean = meanDistance(good.map((r) => r.distance!));
    const uniform = uniformAttentionDistance(c);
    const files: Record<string, string> = {};
    const write = async (name: (typeof MODEL_FIGURES)[number], data: string | Uint8Array) => {
      await staged.write(join(outDir, name), data);
      files[name.replace(/\.[a-z]+$/, '')] = join(outDir, name);
    };
    if (good.length) await write('attention-distance.svg', await distancePlot({ mean, images: good.length, imageSize: c.image_size, uniform }));
    const sim = positionSimilarity(weights);
    await write('position-similarity.svg', await similarityGrid(sim.grid, sim.similarity));
    const pcs = patchFilterComponents(weights);
    await write('filter-components.svg', await filterTiles(pcs.patchSize, pcs.channels, pcs.components, pcs.varianceRatio));

    const doc = {
      model: modelPath,
      config: c,
      grid: s.grid,
      patch_size: c.patch_size,
      prefix_tokens: s.prefixTokens,
      map: { source, layer: layerNumber ?? null, note: 'map: raw value per patch, G rows of G; map_scaled: divided by its max. layer counts from 1 (as --layer); distance arrays are in layer order, [0] = layer 1' },
      images: results.map((r) => (r.error ? { file: r.file, error: r.error } : { file: r.file, top: r.top ?? null, png: r.png, map: r.map, map_scaled: r.mapScaled, distance: r.distance })),
      attention_distance: { unit: 'pixels', images: good.length, mean: mean.map((row) => row.map(f32)), uniform: f32(uniform), figure: files['attention-distance'] ?? null },
      position_similarity: { grid: sim.grid, similarity: rows(sim.similarity, sim.grid * sim.grid), figure: files['position-similarity'] },
      filter_components: {
        patch_size: pcs.patchSize,
        channels: pcs.channels,
        order: '(channel, row, col)',
        components: pcs.components.map((v) => Array.from(v, f32)),
        variance_ratio: pcs.varianceRatio.map(f32),
        figure: files['filter-components'],
      },
    };
    const text = jsonText(doc);
    await write('explain.json', text + '\n');
    await staged.commit();

    if (json) process.stdout.write(text + '\n');
    else {
      for (const r of results) {
        if (r.error) process.stderr.write(`webvit: ${messageLine(`${shown(r.file)}: ${r.error}`)}\n`);
        else {
          const top = r.top ? `, ${r.top.label === null ? `class ${r.top.index}` : shownLabel(r.top.label)} ${(100 * r.top.p).toFixed(1)}%` : '';
          process.stdout.write(`${shown(r.file)}: ${shown(r.png!)}${top}; ${source}, scaled to max 1:\n${grid(r.mapScaled!)}`);
        }
      }
      process.stdout.write(`model: ${Object.values(files).map(shown).join(', ')}\n`);
    }
    const failed = results.length - good.length;
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    process.stderr.write(`webvit: explained ${good.length} of ${results.length} image${results.length === 1 ? '' : 's'} with ${shown(modelPath)} in ${secs} s${failed ? `; ${failed} failed` : ''}\n`);
    return failed ? 1 : 0;
  }
}

/** One image's map, distances and overlay PNG, from slot `slot` of an explain result. */
async function imageResult(
  batch: WriteBatch,
  it: Item,
  slot: number,
  ex: AttentionExplanation,
  pixels: Float32Array,
  preprocess: ViTModel['preprocess'],
  png: string,
  labels: string[] | undefined,
): Promise<ImageResult> {
  const G = ex.grid;
  const map = ex.rollout[slot];
  let max = 0;
  for (const v of map) max = Math.max(max, v);
  const scaled = Float32Array.from(map, (v) => (max > 0 ? v / max : 0));
  const distance = ex.distance.map((d) => Array.from(d.subarray(slot * ex.heads, (slot + 1) * ex.heads), f32));
  const S = Math.round(Math.sqrt(pixels.length / (preprocess.channels === 'grayscale' ? 1 : 3)));
  await batch.write(png, overlayPng({ pixels, channels: preprocess.channels === 'grayscale' ? 1 : 3, size: S, preprocess, map, grid: G }));
  return { file: it.file, png, map: rows(map, G), mapScaled: rows(scaled, G), distance, top: topClass(ex, slot, labels) };
}

/** The most probable class (softmax of the logits in float64), or undefined without a classifier. */
function topClass(ex: AttentionExplanation, slot: number, labels: string[] | undefined): ImageResult['top'] {
  const K = ex.logits.length / ex.batch;
  if (!(K >= 1)) return undefined;
  const z = ex.logits.subarray(slot * K, (slot + 1) * K);
  let best = 0;
  for (let k = 1; k < K; k++) if (z[k] > z[best]) best = k;
  let sum = 0;
  for (const v of z) sum += Math.exp(v - z[best]);
  return { label: labels?.[best] ?? null, index: best, p: f32(1 / sum) };
}

/** NAME.attention.png from the image's file name; a second image of the same name gets NAME-2. */
function uniqueName(file: string, names: Set<string>): string {
  // ASCII only after the replace, so characters are bytes; room is left for "-NNNNNN".
  const stem = (basename(file, extname(file)).replace(/[^\w.-]+/g, '_') || 'image').slice(0, NAME_MAX - '-999999.attention.png'.length);
  let name = `${stem}.attention.png`;
  for (let k = 2; names.has(name); k++) name = `${stem}-${k}.attention.png`;
  names.add(name);
  return name;
}

/** The map as text: one line of numbers per patch row (two decimals). */
function grid(m: number[][]): string {
  if (m.length > 24) return `  (${m.length}×${m.length} values: see explain.json)\n`;
  return m.map((row) => `  ${row.map((v) => v.toFixed(2)).join(' ')}\n`).join('');
}
