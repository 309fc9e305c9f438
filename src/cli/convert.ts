import { convertCheckpoint, encodeWeights, LAYOUTS, outputDtype, RESIZE_MODES, type Layout, type ResizeMode } from '../model/convert/index.js';
import type { QuantKind } from '../kernels/matmul/quant.js';
import { readCheckpoint, readLabelsFile } from '../model/convert/files.js';
import { loadWeights } from '../model/weights.js';
import { parseCommandLine, positiveInt, UsageError } from './usage.js';
import { refuseOverwritingInputs, writeOutputAtomically } from './write_output.js';
import { messageLine, printable, shown } from './shown.js';
import { clip } from '../runtime/errors.js';
import { checkpointDirFor, parseModelArg } from './model_arg.js';

export const CONVERT_USAGE = `  webvit convert SRC -o OUT.safetensors [--dtype f32|f16|int8|q4] [--labels FILE] [--image-size N]
                 [--heads N] [--pooling cls|mean]
                 [--layout ${LAYOUTS.filter((l) => l !== 'webvit').join('|')}]
                 [--resize ${RESIZE_MODES.join('|')}]
                 [--preprocessor-config FILE|none]
      Converts a Hugging Face (folder or model.safetensors[.index.json] + config.json), timm or
      torchvision ViT checkpoint, or a Hugging Face checkpoint of another model family (the
      --layout names after torchvision: docs/families.md), to a webvit weight file. The layout is detected from
      the tensor names; what was read, inferred or assumed is printed (docs/checkpoints.md).
      A Hugging Face model takes its image preprocessing from the preprocessor_config.json beside
      config.json (or FILE; none: webvit's defaults).
      --dtype int8|q4 stores the matmul weights quantised (int8 per output column, or 4-bit in
      blocks of 32 along K), the rest F32 (docs/quantization.md).
`;


function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly string[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${clip(v, 80)}"`);
  return v as T;
}

/** `webvit convert SRC -o OUT`: another ecosystem's checkpoint in, a webvit weight file out. */
export async function convertCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      dtype: { type: 'string' },
      labels: { type: 'string' },
      'image-size': { type: 'string' },
      heads: { type: 'string' },
      layout: { type: 'string' },
      pooling: { type: 'string' },
      resize: { type: 'string' },
      'preprocessor-config': { type: 'string' },
      revision: { type: 'string' },
    },
  });
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`convert takes one SRC checkpoint, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  if (!values.output) throw new UsageError('convert needs -o OUT.safetensors');
  const arg = parseModelArg(positionals[0], values.revision);
  const out = values.output;
  if (out === '-') throw new UsageError('-o -: convert writes a weight file (binary), not standard output; give a file name, e.g. -o model.safetensors');
  const d = oneOf<'f32' | 'f16' | QuantKind>('dtype', values.dtype, ['f32', 'f16', 'int8', 'q4']) ?? 'f32';
  const dtype = outputDtype(d);
  const layout = oneOf<Layout>('layout', values.layout, LAYOUTS);
  const pooling = oneOf<'cls' | 'mean'>('pooling', values.pooling, ['cls', 'mean']);
  const resize = oneOf<ResizeMode>('resize', values.resize, RESIZE_MODES);
  const heads = positiveInt('heads', values.heads);
  const imageSize = positiveInt('image-size', values['image-size']);

  const t0 = performance.now();
  const labels = values.labels ? await readLabelsFile(values.labels) : undefined;
  const src = arg.id ? await checkpointDirFor(arg) : arg.text;
  const ckpt = await readCheckpoint(src, { preprocessorConfig: values['preprocessor-config'] });
  // Before converting or writing anything: OUT must not be a file this conversion reads (by
  // device and inode; the list of files comes from reading the checkpoint).
  await refuseOverwritingInputs(out, [...(ckpt.files ?? []), ...(values.labels ? [values.labels] : [])]);
  const r = convertCheckpoint(ckpt, { layout, heads, imageSize, labels, labelsSource: values.labels, pooling, resize });
  // Notes quote the checkpoint's own text; each is clipped where it is made, and the line here too.
  for (const n of r.notes) process.stderr.write(`webvit convert: ${messageLine(n)}\n`);
  const bytes = encodeWeights(r.weights, dtype, { 'webvit.converted_from': r.layout, ...r.metadata });
  await loadWeights(bytes, out); // the loader accepts what was written, or this is a converter bug
  await writeOutputAtomically(out, bytes);
  const params = [...r.weights.tensors.values()].reduce((a, t) => a + t.length, 0);
  process.stdout.write(
    `wrote ${shown(out)}: ${dtype}, ${r.weights.tensors.size} tensors, ${params} parameters, ${(bytes.byteLength / 2 ** 20).toFixed(2)} MiB` +
      `${r.weights.labels ? `, ${r.weights.labels.length} labels` : ''} (${r.layout}, ${((performance.now() - t0) / 1000).toFixed(2)} s)\n`,
  );
  return 0;
}
