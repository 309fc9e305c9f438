import { getNodeDevice } from '../runtime/node-device.js';
import { clip, WebvitError } from '../runtime/errors.js';
import { READ_LIMITS, readRegularFile } from '../runtime/node-read-file.js';
import { shapeOf } from '../model/config.js';
import { ViTModel } from '../model/vit.js';
import { readWeightFile } from '../model/weight_file.js';
import { modelFileFor, parseModelArg } from './model_arg.js';
import { softmaxRows, topK } from '../model/topk.js';
import { checkTop, parseCommandLine, positiveInt, TUNE_USAGE, tuneOption, UsageError } from './usage.js';
import { formatProfile } from '../runtime/profile_format.js';
import { shown } from './shown.js';
import { KERNEL_VARIANTS, type KernelChoice } from '../kernels/registry.js';
import { EXPLAIN_OPS } from '../kernels/explain_ops.js';

const ms = (t: number) => `${t.toFixed(1)} ms`;

export const RUN_USAGE = `  webvit run MODEL --input FILE [--batch N] [--top K] [--json] [--repeat N] [--profile]
             [--kernels OP=VARIANT,..] [--tune | --no-tune]
      Runs MODEL (a webvit .safetensors file) on FILE: float32 little-endian NCHW pixels,
      already normalised. Prints the top classes (or, with --json, {"logits": [[...], ...]})
      on stdout and timings on stderr. A features-only model (num_classes 0) prints a summary
      of each image's pooled features (with --json: {"features": [[...], ...]}).
      ${TUNE_USAGE}
`;

/** `webvit run MODEL --input FILE`: raw tensors in, logits (or features) out. */
export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: 'string', short: 'i' },
      batch: { type: 'string', short: 'b' },
      top: { type: 'string', short: 'k' },
      json: { type: 'boolean' },
      repeat: { type: 'string' },
      profile: { type: 'boolean' },
      kernels: { type: 'string' },
      tune: { type: 'boolean' },
      'no-tune': { type: 'boolean' },
      revision: { type: 'string' },
    },
  });
  const { values, positionals } = parsed;
  const tune = tuneOption(values);
  if (positionals.length !== 1) throw new UsageError(`run takes one MODEL file, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  if (!values.input) throw new UsageError('run needs --input FILE (float32 NCHW pixels, already normalised)');
  if (values.input === '-') throw new UsageError('--input -: run reads its input from a file, not standard input; save the float32 pixels to a file and give its name, e.g. --input pixels.bin');
  const batchArg = positiveInt('batch', values.batch);
  const top = positiveInt('top', values.top) ?? 5;
  const repeat = positiveInt('repeat', values.repeat, 1_000_000) ?? 1;
  const kernels = parseKernels(values.kernels);
  const { path: modelPath } = await modelFileFor(parseModelArg(positionals[0], values.revision));

  const t0 = performance.now();
  // Check the model and the input against each other before the GPU is touched.
  const { weights } = await readWeightFile(modelPath);
  const c = weights.config;
  checkTop(top, values.top !== undefined, modelPath, c.num_classes);
  if (values.top !== undefined && values.json) throw new UsageError(`--top ${top} does nothing with --json, which prints every logit; leave one of them out`);
  const inputBytes = await readInput(values.input);
  const per = shapeOf(c).imageValues;
  const expected = `float32 little-endian NCHW pixels, already normalised: ${c.num_channels}×${c.image_size}×${c.image_size} = ${per} values (${per * 4} bytes) per image`;
  if (inputBytes.byteLength === 0) {
    throw new WebvitError('BAD_INPUT', `${values.input}: the input file is empty; it should hold ${expected}`);
  }
  if (inputBytes.byteLength % 4 !== 0) {
    throw new WebvitError('BAD_INPUT', `${values.input}: ${inputBytes.byteLength} bytes is not a whole number of float32 values; it should hold ${expected}`);
  }
  const input = new Float32Array(inputBytes.buffer.slice(inputBytes.byteOffset, inputBytes.byteOffset + inputBytes.byteLength));
  const batch = batchArg ?? input.length / per;
  if (!Number.isInteger(batch) || input.length !== batch * per) {
    throw new WebvitError(
      'BAD_INPUT',
      `${values.input}: has ${input.length} float32 values; the model takes ${c.num_channels}×${c.image_size}×${c.image_size} = ${per} per image` +
        (batchArg ? `, so batch ${batchArg} needs ${batchArg * per}` : ', and that is not a whole number of images'),
    );
  }
  const tRead = performance.now();
  const device = await getNodeDevice();
  const tDevice = performance.now();
  let model: ViTModel | undefined;
  try {
    model = await ViTModel.fromWeights(device, weights, { label: 'model', batch, kernels, tune });
    const tLoad = performance.now();
    const times: number[] = [];
    let out = await model.forward(input, { batch });
    times.push(performance.now() - tLoad);
    for (let i = 1; i < repeat; i++) {
      const s = performance.now();
      out = await model.forward(input, { batch });
      times.push(performance.now() - s);
    }
    const profile = values.profile ? await model.profile(input, { batch }) : undefined;

    if (out.numClasses === 0) printFeatures(out.features!, batch, !!values.json);
    else if (values.json) {
      const rows = [];
      for (let b = 0; b < batch; b++) rows.push(Array.from(out.logits.subarray(b * out.numClasses, (b + 1) * out.numClasses)));
      process.stdout.write(JSON.stringify({ logits: rows }) + '\n');
    } else {
      const probs = softmaxRows(out.logits, out.numClasses);
      topK(out.logits, out.numClasses, top).forEach((row, b) => {
        const items = row.map((e) => {
          const name = model!.labels?.[e.index];
          const p = probs[b * out.numClasses + e.index];
          return `${e.index}${name === undefined ? '' : ` ${shown(name)}`} (logit ${e.value.toFixed(4)}, p ${p.toFixed(4)})`;
        });
        process.stdout.write(`image ${b}: ${items.join(', ')}\n`);
      });
    }
    const sorted = [...times].sort((a, b) => a - b);
    process.stderr.write(
      `webvit: ${c.num_layers} layers, hidden ${c.hidden_size}, ${c.image_size}px/${c.patch_size}, batch ${batch}; ` +
        `read ${ms(tRead - t0)}, device ${ms(tDevice - tRead)}, load (upload + pipelines + plan) ${ms(tLoad - tDevice)}, first forward ${ms(times[0])}` +
        (repeat > 1 ? `, median of ${repeat} ${ms(sorted[Math.floor(sorted.length / 2)])}` : '') +
        `; activations ${(model.activationBytes(batch) / 2 ** 20).toFixed(2)} MiB, weights ${(model.weightBytes / 2 ** 20).toFixed(2)} MiB` +
        `; kernels ${Object.entries(model.kernels(batch) ?? {}).map(([op, v]) => `${op}=${v}`).join(', ')}\n`,
    );
    if (profile) process.stderr.write(`webvit: ${formatProfile(profile)}\n`);
    return 0;
  } finally {
    await model?.dispose();
    device.destroy(); // the CLI made this device
  }
}

/**
 * A model without a classifier (num_classes 0) gives pooled features, which is what its user wants:
 * with --json all of them (`{"features": [[...], ...]}`, one row per image), otherwise a summary
 * line per image (a 768-wide row on a terminal helps nobody) that says where the full rows are.
 */
function printFeatures(features: Float32Array, batch: number, json: boolean): void {
  const width = features.length / batch;
  const rows = Array.from({ length: batch }, (_, b) => features.subarray(b * width, (b + 1) * width));
  if (json) {
    process.stdout.write(JSON.stringify({ features: rows.map((r) => Array.from(r)) }) + '\n');
    return;
  }
  const f = (x: number) => x.toFixed(4);
  rows.forEach((r, b) => {
    let sum = 0;
    let sq = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const x of r) {
      sum += x;
      sq += x * x;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    const mean = sum / width;
    const std = Math.sqrt(Math.max(0, sq / width - mean * mean));
    const head = Array.from(r.subarray(0, 4), f).join(', ');
    process.stdout.write(
      `image ${b}: ${width} features (features-only model: no classifier; --json prints them all): ` +
        `[${head}${width > 4 ? ', …' : ''}], mean ${f(mean)}, std ${f(std)}, min ${f(min)}, max ${f(max)}, L2 norm ${f(Math.sqrt(sq))}\n`,
    );
  });
}

/** `--kernels matmul=tiled,attention=online_softmax_q32`: force variants per op. */
function parseKernels(spec: string | undefined): KernelChoice | undefined {
  if (!spec) return undefined;
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const pieces = part.split('=');
    if (pieces.length !== 2) throw new UsageError(`--kernels: "${clip(part, 80)}" is not OP=VARIANT (e.g. matmul=tiled; several separated by commas)`);
    const [op, variant] = pieces;
    // Own keys only: "__proto__", "constructor" or "toString" are not ops or variants.
    // The forward ops, and the explain plan's (`webvit explain --kernels attention_probs=...`).
    const table = { ...KERNEL_VARIANTS, ...Object.fromEntries(EXPLAIN_OPS.map((d) => [d.name, d.variants])) } as Record<string, Record<string, unknown>>;
    const known = Object.hasOwn(table, op) ? table[op] : undefined;
    if (!known) throw new UsageError(`--kernels: unknown op "${clip(op, 80)}"; ops with variants: ${Object.keys(table).join(', ')}`);
    if (!variant || !Object.hasOwn(known, variant)) throw new UsageError(`--kernels: unknown ${op} variant "${clip(variant ?? '', 80)}"; choose from ${Object.keys(known).join(', ')}`);
    if (Object.hasOwn(out, op) && out[op] !== variant) throw new UsageError(`--kernels names ${op} twice (${out[op]}, ${clip(variant, 80)}); give one variant per op`);
    out[op] = variant;
  }
  return out as KernelChoice;
}

async function readInput(path: string): Promise<Uint8Array> {
  return readRegularFile(path, { code: 'BAD_INPUT', what: 'the input file given with --input', limit: READ_LIMITS.tensor });
}
