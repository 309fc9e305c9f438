import { existsSync, readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImageHead, decodeImage, DEFAULT_MAX_PIXELS, imageExtent, RgbaPool } from '../image/decode.js';
import { ImagePreprocessor } from '../image/preprocessor.js';
import { ViTModel } from '../model/vit.js';
import { classifyImages, passesOf } from '../model/classify.js';
import { readWeightFile } from '../model/weight_file.js';
import { modelOption } from './model_arg.js';
import { getNodeDevice } from '../runtime/node-device.js';
import { clip, WebvitError } from '../runtime/errors.js';
import { errnoWhy, READ_LIMITS, readRegularFile, stdinHint } from '../runtime/node-read-file.js';
import { Progress } from './progress.js';
import { jsonText, messageLine, printable, shown, shownLabel } from './shown.js';
import { checkTop, parseCommandLine, positiveInt, TUNE_USAGE, tuneOption, UsageError } from './usage.js';

export const CLASSIFY_USAGE = `  webvit classify IMAGE... [--model FILE] [--top K] [--json] [--batch N] [--max-pixels N]
                  [--tune | --no-tune]
      Classifies PNG and JPEG images (directories: their .png/.jpg/.jpeg files), preprocessed on
      the GPU exactly as the model's webvit.preprocess says (PIL/torchvision's resize, centre crop,
      normalisation). Prints the top K (default 3) labels with probabilities per image, or with
      --json one {"file", "top": [{"label", "index", "p"}]} or {"file", "error"} per line.
      Without --model it uses the bundled Fashion-MNIST model. A bad image is reported on its
      own line and the rest are still classified; the exit code is 1 if any image failed.
      Images are read, decoded and preprocessed one at a time, so memory does not grow with
      their number: the peak is about 4 bytes per pixel of the largest PNG (12 for a JPEG) above
      the model's own. On a terminal, stderr shows the first use's kernel compiling and tuning.
      --batch N: images per forward pass (default 16). --max-pixels N: refuse larger images
      (default 100M; suffixes K, M allowed).
      ${TUNE_USAGE}
`;

const BUNDLED = 'models/fashion-mnist/model.safetensors';
const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** The webvit package root (where package.json names "webvit"), found from this file's location. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        // The repository (package `webvit`) or the installed CLI package (`webvit-cli`).
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
        if (name === 'webvit' || name === 'webvit-cli') return dir;
      } catch {
        /* keep looking */
      }
    }
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}


export function pixelCount(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1e3 : 1e6) : 1) : NaN;
  if (!Number.isFinite(n) || n < 1) throw new UsageError(`--max-pixels must be a pixel count like 100000000, 100M or 5k, got "${clip(v, 80)}"`);
  // An image is at most 2^31 − 1 pixels on a side; more than a texture holds is no limit at all.
  if (n > 2 ** 40) throw new UsageError(`--max-pixels must be at most ${2 ** 40} (1 T), got "${clip(v, 80)}"`);
  return Math.floor(n);
}

export interface Item {
  file: string;
  error?: string;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A file name's bytes as text: `valid`, or with each byte that is not part of UTF-8 as `\xNN`. */
export function utf8Name(b: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: UTF8.decode(b), valid: true };
  } catch {
    let text = '';
    for (let i = 0; i < b.length; ) {
      const n = b[i] < 0x80 ? 1 : b[i] >= 0xc2 && b[i] <= 0xdf ? 2 : b[i] >= 0xe0 && b[i] <= 0xef ? 3 : b[i] >= 0xf0 && b[i] <= 0xf4 ? 4 : 0;
      let part: string | undefined;
      if (n > 0 && i + n <= b.length) {
        try {
          part = UTF8.decode(b.subarray(i, i + n));
        } catch {
          part = undefined;
        }
      }
      if (part !== undefined) {
        text += part;
        i += n;
      } else text += `\\x${b[i++].toString(16).padStart(2, '0')}`;
    }
    return { text, valid: false };
  }
}

/** Positional arguments → files: directories expand to their image files (sorted, not recursive). */
export async function expand(paths: string[]): Promise<Item[]> {
  const items: Item[] = [];
  for (const p of paths) {
    let s;
    try {
      s = await stat(p);
    } catch (e) {
      items.push({ file: p, error: `cannot read (${errnoWhy(e)}${stdinHint(p, e)})` });
      continue;
    }
    if (s.isDirectory()) {
      // Names are read as bytes: one that is not UTF-8 would come back with U+FFFD in it, a name
      // no file has ("cannot read (ENOENT)" for a file that exists). Such a file is refused on
      // its own, its name shown with the bad bytes escaped (webvit names files by strings).
      const names = (await readdir(p, { withFileTypes: true, encoding: 'buffer' }))
        .map((d) => ({ d, name: utf8Name(d.name) }))
        // Every entry with an image's name but folders: a FIFO or device among them is refused on
        // its own line by the reader (it was dropped without a word).
        .filter(({ d, name }) => !name.text.startsWith('.') && IMAGE_EXT.test(name.text) && !d.isDirectory())
        .map(({ name }) => name)
        .sort((a, b) => a.text.localeCompare(b.text, 'en', { numeric: true }));
      if (names.length === 0) items.push({ file: p, error: 'directory has no .png/.jpg/.jpeg files' });
      for (const n of names) items.push(n.valid ? { file: join(p, n.text) } : { file: join(p, n.text), error: 'file name is not valid UTF-8 (shown with its bad bytes as \\xNN); rename it' });
    } else items.push({ file: p });
  }
  return items;
}

interface Result {
  file: string;
  top?: { label: string | null; index: number; p: number }[];
  error?: string;
}

/** The error text of a failed image, without the file name its message starts with. */
function reason(e: WebvitError, file: string): string {
  return e.message.startsWith(`${file}: `) ? e.message.slice(file.length + 2) : e.message;
}

/**
 * `--model FILE`, or the bundled Fashion-MNIST model (relative to the working directory when it
 * lies below it, for shorter messages); a missing bundled model is explained.
 */
export function modelPathOrBundled(model: string | undefined): string {
  if (model) return model;
  const root = packageRoot();
  const bundled = join(root, BUNDLED);
  if (!existsSync(bundled)) {
    throw new WebvitError(
      'BAD_WEIGHTS',
      `no --model given and the bundled model ${bundled} is missing. Train and write it with \`/usr/bin/python3 tools/train_fashion_mnist.py\` ` +
        `(about 40 minutes on 2 cores; it ships in the repository, so a fresh clone has it), or pass --model FILE`,
    );
  }
  const rel = relative(process.cwd(), bundled);
  return rel && !rel.startsWith('..') ? rel : bundled;
}

/** `webvit classify IMAGE...`: images in, top-K labels out. */
export async function classifyCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      revision: { type: 'string' },
      top: { type: 'string', short: 'k' },
      json: { type: 'boolean' },
      batch: { type: 'string', short: 'b' },
      'max-pixels': { type: 'string' },
      tune: { type: 'boolean' },
      'no-tune': { type: 'boolean' },
    },
  });
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError('classify needs at least one IMAGE (a PNG/JPEG file or a directory of them)');
  const top = positiveInt('top', values.top) ?? 3;
  const batchSize = positiveInt('batch', values.batch) ?? 16;
  const maxPixels = pixelCount(values['max-pixels']) ?? DEFAULT_MAX_PIXELS;
  const json = values.json ?? false;
  const tune = tuneOption(values);

  const { path: modelPath, name: modelName } = await modelOption(values.model, values.revision, () => modelPathOrBundled(undefined));
  const { weights } = await readWeightFile(modelPath);
  const c = weights.config;
  if (c.num_classes === 0) throw new WebvitError('BAD_CONFIG', `${modelPath}: has no classifier (num_classes 0): it returns features, there is nothing to classify`);
  checkTop(top, values.top !== undefined, modelPath, c.num_classes);
  if (c.num_channels !== 1 && c.num_channels !== 3) {
    throw new WebvitError('BAD_CONFIG', `${modelPath}: takes ${c.num_channels}-channel images; classify handles 1-channel (greyscale) and 3-channel (RGB) models`);
  }

  const items = await expand(positionals);
  const progress = new Progress(items.length, 'images');
  let failed = 0;
  const emit = (r: Result) => {
    if (r.error) failed++;
    progress.clear();
    if (json) process.stdout.write(jsonText(r) + '\n');
    else if (r.error) process.stderr.write(`webvit: ${messageLine(`${shown(r.file)}: ${r.error}`)}\n`);
    else process.stdout.write(`${shown(r.file)}: ${r.top!.map((t) => `${t.label === null ? `class ${t.index}` : shownLabel(t.label)} ${(100 * t.p).toFixed(1)}%`).join(', ')}\n`);
  };

  const device = await getNodeDevice();
  let model: ViTModel | undefined;
  let pre: ImagePreprocessor | undefined;
  const t0 = performance.now();
  let done = 0;
  progress.update(0);
  try {
    const batch = Math.min(batchSize, Math.max(1, items.length));
    // On a terminal, the first use's kernel compiling and tuning shows as "compiling kernels 3/12".
    const k = Math.min(top, c.num_classes); // the default 3 on a model of fewer classes: all of them (checkTop refused a --top above)
    model = await ViTModel.fromWeights(device, weights, { label: 'model', batch, topK: k, tune, onProgress: (e) => progress.loadStage(e) });
    progress.update(0);
    pre = new ImagePreprocessor(device, model.preprocess);
    const pool = new RgbaPool();
    const p = model.preprocess;
    // The pixels were 0–255: extreme inputs come from the model's own normalisation.
    const hint = ` (here the values come from the model's preprocessing: mean ${JSON.stringify(p.mean)}, std ${JSON.stringify(p.std)} in its webvit.preprocess)`;
    // The one classify loop (src/model/classify.ts), with the CLI's rules: passes of --batch at
    // one plan; each image read, decoded, uploaded (its RGBA rows, once) and preprocessed on the
    // GPU into its slot of the model's input tensor in its turn, then dropped, so the peak is one
    // image's pixels whatever their number; a bad image is reported on its line and the rest go
    // on. Only K (class, probability) pairs per image come back.
    await classifyImages({
      model,
      pre,
      passes: passesOf(items.length, batchSize, batch),
      topK: k,
      errors: 'each',
      name: (i) => items[i].file,
      image: async (i) => {
        const { file, error } = items[i];
        if (error !== undefined) throw new WebvitError('BAD_INPUT', error); // a path that could not be listed
        return decodeImage(await readImage(file, maxPixels), file, { maxPixels, pool });
      },
      onImage: () => progress.update(++done),
      onRows: (start, rows) =>
        rows.forEach((row, j) => {
          const file = items[start + j].file;
          if (row.error) return emit({ file, error: reason(row.error, file) + (row.byModel ? hint : '') });
          emit({ file, top: row.top!.map((e) => ({ label: model!.labels?.[e.index] ?? null, index: e.index, p: e.p })) });
        }),
    });
  } finally {
    progress.clear();
    await pre?.dispose();
    await model?.dispose();
    device.destroy(); // the CLI made this device
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(2);
  process.stderr.write(
    `webvit: classified ${items.length - failed} of ${items.length} image${items.length === 1 ? '' : 's'} with ${shown(modelName)} in ${secs} s${failed ? `; ${failed} failed` : ''}\n`,
  );
  return failed ? 1 : 0;
}

/**
 * An image file's bytes: a regular file only (not a FIFO or device), up to READ_LIMITS.image,
 * its first 64 KiB checked first (checkImageHead: not an image, a corrupt JPEG, a header over
 * `maxPixels` are refused before the rest is read), and read only up to the image's end
 * (imageExtent: what follows a PNG's IEND or a JPEG's EOI is never read).
 */
export async function readImage(file: string, maxPixels?: number): Promise<Uint8Array> {
  return readRegularFile(file, {
    code: 'BAD_INPUT',
    limit: READ_LIMITS.image,
    head: async (read, size) => {
      const head = await read(64 * 1024);
      checkImageHead(head, file, maxPixels);
      return imageExtent(head, size, read);
    },
  });
}
