import { familyOf, shapeOf, type ViTConfig } from '../model/config.js';
import { describePreprocess } from '../image/preprocess_text.js';
import { parseSafetensors, DTYPE_BYTES } from '../model/safetensors.js';
import { flopsPerImage } from '../model/stats.js';
import { estimateActivationBytes, parameterCount } from '../model/vit.js';
import { readWeightFile } from '../model/weight_file.js';
import { modelFileFor, parseModelArg } from './model_arg.js';
import { parseCommandLine, UsageError } from './usage.js';
import { jsonText, shown, shownLabel } from './shown.js';

export const INSPECT_USAGE = `  webvit inspect MODEL [--json]
      Prints MODEL's config, parameter count, weight bytes, GFLOPs per image, activation memory
      at batch 1, 8 and 32, its labels and its image preprocessing. Needs no GPU.
`;

const BATCHES = [1, 8, 32];
const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

/** `webvit inspect MODEL`: what a weight file holds and what running it costs. */
export async function inspectCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, revision: { type: 'string' } } });
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`inspect takes one MODEL file, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const { path } = await modelFileFor(parseModelArg(positionals[0], values.revision));
  const { bytes, weights: w } = await readWeightFile(path);
  const file = parseSafetensors(bytes, path);
  const c = w.config;
  const s = shapeOf(c);
  const params = parameterCount(c);
  const dtypes: Record<string, number> = {};
  let fileWeightBytes = 0;
  for (const t of file.tensors.values()) {
    const n = t.end - t.begin;
    fileWeightBytes += n;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n / DTYPE_BYTES[t.dtype];
  }
  // On the GPU: float32, except matmul weights stored as F16 (kept as halves) or quantised (codes
  // and scales as the file stores them; buffers are whole 4-byte words, at least 16 bytes).
  let gpuWeightBytes = 0;
  const buffer = (bytes: number) => Math.max(16, Math.ceil(bytes / 4) * 4);
  for (const [name, t] of w.tensors) gpuWeightBytes += buffer((w.half?.has(name) ? 2 : 4) * t.length);
  const q = [...(w.quant?.values() ?? [])];
  const quant = q.length
    ? { kind: q[0].kind, matrices: q.length, values: q.reduce((a, m) => a + m.K * m.N, 0), code_bytes: q.reduce((a, m) => a + m.codes.byteLength, 0), scale_bytes: q.reduce((a, m) => a + m.scales.byteLength, 0) }
    : null;
  for (const m of q) gpuWeightBytes += buffer(m.codes.byteLength) + buffer(m.scales.byteLength);
  const flops = flopsPerImage(c);
  const activations = Object.fromEntries(BATCHES.map((b) => [b, estimateActivationBytes(c, b)]));
  const pre = w.preprocess;
  const info = {
    file: path,
    family: c.family ?? 'vit',
    config: c,
    tokens: s.tokens,
    patches: s.grid * s.grid,
    head_dim: s.headDim,
    parameters: params,
    weight_bytes: { file: fileWeightBytes, gpu: gpuWeightBytes, dtypes, quant },
    gflops_per_image: flops.total / 1e9,
    gflops_parts: Object.fromEntries(Object.entries(flops.parts).map(([k, v]) => [k, v / 1e9])),
    activation_bytes: activations,
    labels: w.labels ?? null,
    preprocess: pre ?? null,
  };
  if (values.json) {
    process.stdout.write(jsonText(info) + '\n');
    return 0;
  }
  const lines: [string, string][] = [
    ['model', shown(path)],
    ['family', familyLine(c)],
    ['input', `${c.image_size}×${c.image_size}, ${c.num_channels} channel${c.num_channels === 1 ? '' : 's'}, patch ${c.patch_size} → ${s.grid}×${s.grid} = ${s.grid * s.grid} patches`],
    ['tokens', `${s.tokens} (${s.prefixTokens ? `${c.class_token ? 'class' : ''}${c.distilled ? ' + distillation' : ''} token${s.prefixTokens > 1 ? 's' : ''} + ` : ''}patches)`],
    ['encoder', `${c.num_layers} layers, hidden ${c.hidden_size}, ${c.num_heads} heads of ${s.headDim}, MLP ${c.mlp_size}, layernorm eps ${c.layer_norm_eps}, qkv bias ${c.qkv_bias ? 'yes' : 'no'}`],
    ['pooling', `${c.pooling}${c.fc_norm ? ' (fc_norm: norm after pooling)' : ''}${c.projection_size ? ` → ${s.pooledSize}, projected` : ''} → ${s.featureSize} features`],
    ['classes', `${c.num_classes}${w.labels ? ` (labels: ${w.labels.slice(0, 10).map(shownLabel).join(', ')}${w.labels.length > 10 ? `, … ${w.labels.length - 10} more` : ''})` : c.num_classes ? ' (no labels in the file)' : ' (no classifier: features only)'}`],
    ['parameters', `${params.toLocaleString('en-US')} (${(params / 1e6).toFixed(2)} M)`],
    ['weights', `${mib(fileWeightBytes)} in the file (${Object.entries(dtypes).map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`).join(', ')}), ${mib(gpuWeightBytes)} on the GPU`],
    ...(quant
      ? ([['quantised', `${quant.kind}: ${quant.matrices} matmul weights, ${quant.values.toLocaleString('en-US')} values in ${mib(quant.code_bytes)} of codes + ${mib(quant.scale_bytes)} of scales (${((8 * (quant.code_bytes + quant.scale_bytes)) / quant.values).toFixed(2)} bits a weight)`]] as [string, string][])
      : []),
    ['compute', `${(flops.total / 1e9).toFixed(4)} GFLOPs per image (matmuls, multiply-add = 2: ${Object.entries(flops.parts).map(([k, v]) => `${k} ${(100 * v / flops.total).toFixed(1)}%`).join(', ')})`],
    ['activations', BATCHES.map((b) => `batch ${b}: ${mib(activations[b])}`).join(', ')],
    ['preprocess', pre ? describePreprocess(pre) : 'none'],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  return 0;
}

/** The model's family, in words, with what sets it apart from a plain ViT. */
function familyLine(c: ViTConfig): string {
  const family = familyOf(c);
  const what = family ? family.title(c) : c.distilled ? 'ViT (DeiT, distilled)' : 'ViT';
  const parts = [
    c.pre_norm ? 'layernorm before the blocks' : '',
    c.hidden_act && c.hidden_act !== 'gelu' ? c.hidden_act : '',
    c.projection_size ? `projection to ${c.projection_size}` : '',
    ...(family?.describe?.(c) ?? []),
    c.mlp === 'swiglu' ? `SwiGLU MLP (fc1 to ${2 * c.mlp_size}, silu(x1)·x2)` : '',
  ].filter(Boolean);
  return `${c.family ?? 'vit'} (${what}${parts.length ? `: ${parts.join(', ')}` : ''})`;
}
