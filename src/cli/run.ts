import { readFile } from 'node:fs/promises';
import { getNodeDevice } from '../runtime/node-device.js';
import { WebvitError } from '../runtime/errors.js';
import { shapeOf } from '../model/config.js';
import { ViTModel } from '../model/vit.js';
import { readWeights } from '../model/weights.js';
import { softmaxRows, topK } from '../model/topk.js';
import { parseCommandLine, positiveInt, UsageError } from './usage.js';
import { formatProfile } from '../runtime/profile_format.js';
import { KERNEL_VARIANTS, type KernelChoice } from '../kernels/registry.js';

const ms = (t: number) => `${t.toFixed(1)} ms`;


/** `webvit run MODEL --input FILE`: raw tensors in, logits out. */
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
      'no-tune': { type: 'boolean' },
    },
  });
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`run takes one MODEL file, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  if (!values.input) throw new UsageError('run needs --input FILE (float32 NCHW pixels, already normalised)');
  const batchArg = positiveInt('batch', values.batch);
  const top = positiveInt('top', values.top) ?? 5;
  const repeat = positiveInt('repeat', values.repeat) ?? 1;
  const modelPath = positionals[0];

  const t0 = performance.now();
  const [modelBytes, inputBytes] = await Promise.all([readInput(modelPath, 'model'), readInput(values.input, 'input')]);
  if (inputBytes.byteLength % 4 !== 0) {
    throw new WebvitError('BAD_INPUT', `${values.input}: ${inputBytes.byteLength} bytes is not a whole number of float32 values`);
  }
  const input = new Float32Array(inputBytes.buffer.slice(inputBytes.byteOffset, inputBytes.byteOffset + inputBytes.byteLength));
  const device = await getNodeDevice();
  let model: ViTModel | undefined;
  try {
    const tRead = performance.now();
    // Check the input against the model before compiling anything.
    const weights = readWeights(modelBytes, modelPath);
    const per = shapeOf(weights.config).imageValues;
    const c = weights.config;
    const batch = batchArg ?? input.length / per;
    if (!Number.isInteger(batch) || input.length !== batch * per) {
      throw new WebvitError(
        'BAD_INPUT',
        `${values.input}: has ${input.length} float32 values; the model takes ${c.num_channels}×${c.image_size}×${c.image_size} = ${per} per image` +
          (batchArg ? `, so batch ${batchArg} needs ${batchArg * per}` : ', and that is not a whole number of images'),
      );
    }
    model = await ViTModel.fromWeights(device, weights, { label: 'model', batch, kernels: parseKernels(values.kernels), tune: !values['no-tune'] });
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

    if (values.json) {
      const rows = [];
      for (let b = 0; b < batch; b++) rows.push(Array.from(out.logits.subarray(b * out.numClasses, (b + 1) * out.numClasses)));
      process.stdout.write(JSON.stringify({ logits: rows }) + '\n');
    } else {
      const probs = softmaxRows(out.logits, out.numClasses);
      topK(out.logits, out.numClasses, top).forEach((row, b) => {
        const items = row.map((e) => {
          const name = model!.labels?.[e.index];
          const p = probs[b * out.numClasses + e.index];
          return `${e.index}${name ? ` ${name}` : ''} (logit ${e.value.toFixed(4)}, p ${p.toFixed(4)})`;
        });
        process.stdout.write(`image ${b}: ${items.join(', ')}\n`);
      });
    }
    const sorted = [...times].sort((a, b) => a - b);
    process.stderr.write(
      `webvit: ${c.num_layers} layers, hidden ${c.hidden_size}, ${c.image_size}px/${c.patch_size}, batch ${batch}; ` +
        `read ${ms(tRead - t0)}, load (upload + pipelines + plan) ${ms(tLoad - tRead)}, first forward ${ms(times[0])}` +
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

/** `--kernels matmul=tiled,attention=online_softmax_q32`: force variants per op. */
function parseKernels(spec: string | undefined): KernelChoice | undefined {
  if (!spec) return undefined;
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const [op, variant] = part.split('=');
    const known = (KERNEL_VARIANTS as Record<string, Record<string, unknown>>)[op];
    if (!known) throw new UsageError(`--kernels: unknown op "${op}"; ops with variants: ${Object.keys(KERNEL_VARIANTS).join(', ')}`);
    if (!variant || !(variant in known)) throw new UsageError(`--kernels: unknown ${op} variant "${variant ?? ''}"; choose from ${Object.keys(known).join(', ')}`);
    out[op] = variant;
  }
  return out as KernelChoice;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new WebvitError(what === 'model' ? 'BAD_WEIGHTS' : 'BAD_INPUT', `${path}: cannot read the ${what} file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
