import { checkSourceName, clip, WebvitError } from '../runtime/errors.js';
import { chunk } from '../errors.js';
import { allFamiliesRegistered, LIMITS, LIMITS_DOC, parseConfig, shapeOf, type ViTConfig } from './config.js';
import { parsePreprocess, type PreprocessConfig } from '../image/preprocess.js';
import { oneLine } from './json_preview.js';
import { parseSafetensors, tensorAsFloat32, type SafetensorsFile } from './safetensors.js';
import { buildGraph } from './graph.js';
import type { QuantizedMatrix } from '../kernels/matmul/quant.js';

/** A weight as the graph declares it (src/model/graph.ts, WeightSource). */
export interface WeightDeclaration {
  shape: number[];
  /** Read by a matmul: may be stored as IEEE halves (an F16 file's, or precision 'f16'). */
  matrix: boolean;
}

/**
 * The weights a config's forward pass reads, in the order it first reads them (the canonical
 * order of a weight file): the graph builder run on placeholder buffers, recording each weight
 * it asks for. The graph is the one declaration; the list of expected tensors, their shapes and
 * which are matrices all come from here.
 */
export function declaredWeights(c: ViTConfig): Map<string, WeightDeclaration> {
  const m = new Map<string, WeightDeclaration>();
  const placeholder = { buffer: undefined as unknown as GPUBuffer };
  buildGraph(
    c,
    (name, shape, matrix) => {
      const seen = m.get(name);
      if (seen && (seen.matrix !== matrix || seen.shape.join() !== shape.join())) {
        throw new Error(`internal: the graph reads weight ${name} as [${seen.shape}]${seen.matrix ? ' (matrix)' : ''} and as [${shape}]${matrix ? ' (matrix)' : ''}`);
      }
      if (!seen) m.set(name, { shape: [...shape], matrix });
      return placeholder;
    },
    { batch: 1, maxWorkgroupStorage: 16384, checkInput: false, declareOnly: true },
  );
  return m;
}

/** The tensors a weight file of config `c` holds, with their shapes (docs/weights-format.md; from declaredWeights). */
export function expectedTensors(c: ViTConfig): Map<string, number[]> {
  return new Map([...declaredWeights(c)].map(([name, d]) => [name, d.shape]));
}

export interface LoadedWeights {
  config: ViTConfig;
  labels?: string[];
  /** Canonical name -> float32 values, in the layout of docs/weights-format.md. */
  tensors: Map<string, Float32Array>;
  /** How images become inputs: `webvit.preprocess`, or the defaults (src/image/preprocess.ts). */
  preprocess?: PreprocessConfig;
  /**
   * Matmul weights the file stores as F16: their raw IEEE half bits. The GPU keeps these as
   * halves (half the memory and bandwidth; kernels unpack to f32), the rest is widened to f32.
   */
  half?: Map<string, Uint16Array>;
  /**
   * Matmul weights the file stores quantised (int8 or q4, docs/quantization.md): codes and scales
   * as the GPU reads them (src/kernels/matmul/quant.ts). `tensors` holds no f32 copy of these.
   */
  quant?: Map<string, QuantizedMatrix>;
}

/**
 * Index of the first value that is NaN, ±Inf or beyond ±max (LIMITS.max_abs_weight, taken as a
 * float32), or −1. It compares bit patterns: for IEEE floats without the sign bit, a larger
 * magnitude is a larger integer, and ±Inf and NaN lie above every finite value. One integer
 * compare per value (about 1.5 ns on one core), where a float compare pair took twice that.
 */
export function firstBadValue(a: Float32Array, max: number = LIMITS.max_abs_weight): number {
  const bits = new Int32Array(a.buffer, a.byteOffset, a.length);
  const limit = new Int32Array(new Float32Array([max]).buffer)[0];
  const n = bits.length;
  for (let i = 0; i < n; i++) {
    if ((bits[i] & 0x7fffffff) > limit) return i;
  }
  return -1;
}

/** A float32 value as its shortest decimal that reads back as the same float32 (3e+38, not 3.0000000054977558e+38). */
export function formatFloat32(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

/** Why a value firstBadValue found is refused, for messages. */
export function badValueReason(v: number): string {
  return Number.isFinite(v)
    ? `beyond ±${LIMITS.max_abs_weight.toExponential()}, which no trained model has and which would overflow float32 arithmetic (${LIMITS_DOC})`
    : 'not finite: the model would compute NaN';
}


/** Recognises other ecosystems' checkpoints, to say what to do with them. */
function foreignHint(names: string[]): string {
  const has = (p: string) => names.some((n) => n.startsWith(p));
  let kind = '';
  if (has('conv_proj.') || has('encoder.layers.')) kind = 'a torchvision ViT state dict';
  else if (has('vit.') || has('embeddings.patch_embeddings')) kind = 'a Hugging Face transformers ViT checkpoint';
  else if (has('patch_embed.proj.')) kind = 'a timm ViT state dict';
  return kind ? ` This looks like ${kind}: convert it to the webvit weight format first (docs/weights-format.md).` : '';
}

/**
 * Refuses a safetensors header that is not a webvit model's (its `__metadata__` and tensor names),
 * saying what it looks like; also run on a file's header before the file is read whole.
 */
export function notWebvit(metadata: unknown, names: string[], source: string): void {
  const m = (typeof metadata == 'object' && metadata !== null ? metadata : {}) as Record<string, unknown>;
  const what = m.format !== 'webvit' ? `no "format": "webvit"` : typeof m['webvit.config'] != 'string' ? 'no "webvit.config"' : '';
  if (what) throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: is a safetensors file but not a webvit model (${what} in __metadata__).${foreignHint(names)}`));
}

/** Reads a quantised file's matmul weights: readQuantized (src/model/quant_weights.ts). */
export type QuantReader = (file: SafetensorsFile, declared: Map<string, WeightDeclaration>, views: boolean, bad: (msg: string) => never) => Map<string, QuantizedMatrix>;
let quantReader: QuantReader | undefined;

/** Lets readWeights read quantised files: Node's entry points pass readQuantized at start; a page's loads import it when a file needs it (loadWeights). */
export function useQuantReader(r: QuantReader): void {
  quantReader = r;
}

/**
 * readWeights, first importing what a page loads on demand (the on-demand chunk, src/on_demand.ts)
 * when the file needs it: the quantised-weights reader, and the model families (FamilyModel, src/model/config.ts).
 */
export async function loadWeights(bytes: Uint8Array | ArrayBuffer, source: string, views = false): Promise<LoadedWeights> {
  try {
    return readWeights(bytes, source, views);
  } catch (e) {
    // Its message names loadWeights (a file's text quoted in another message may too: then the second read fails the same way).
    if ((quantReader && allFamiliesRegistered()) || !(e as Error).message.includes('loadWeights')) throw e;
  }
  const later = await chunk(import('../on_demand.js'));
  quantReader ??= later.readQuantized;
  later.registerFamilies();
  return readWeights(bytes, source, views);
}

/**
 * Parses and checks a webvit weight file: config from the metadata, then every tensor the config
 * calls for present with the right shape and a float dtype, and nothing else.
 */
export function readWeights(bytes: Uint8Array | ArrayBuffer, source: string, views = false): LoadedWeights {
  checkSourceName(source, 'readWeights');
  const file = parseSafetensors(bytes, source);
  const names = [...file.tensors.keys()];
  const bad = (msg: string): never => {
    throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${msg}`));
  };
  notWebvit(file.metadata, names, source);
  const json = (key: string): any => {
    try {
      return JSON.parse(file.metadata[key]);
    } catch (e) {
      bad(`__metadata__["${key}"] is not valid JSON: ${(e as Error).message}`);
    }
  };
  const config = parseConfig(json('webvit.config'), source);
  const preprocess = parsePreprocess(file.metadata['webvit.preprocess'], config, source);
  let labels: string[] | undefined;
  if (file.metadata['webvit.labels'] !== undefined) {
    labels = json('webvit.labels');
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) bad(`__metadata__["webvit.labels"] must be a JSON array of strings`);
    if (labels!.length !== config.num_classes) bad(`has ${labels!.length} labels but num_classes is ${config.num_classes}`);
  }
  // parseConfig has bounded num_layers (LIMITS), so this list is at most a few thousand names.
  const declared = declaredWeights(config);
  // A quantised file (docs/quantization.md; "webvit.quant" says so): its reader checks the codes and scales and takes the scales out of file.tensors.
  const quant = file.metadata['webvit.quant'] !== undefined ? (quantReader ?? bad('int8/q4 weights: load with loadWeights'))(file, declared, views, bad) : undefined;
  const missing = [...declared.keys()].filter((n) => !file.tensors.has(n));
  const extra = [...file.tensors.keys()].filter((n) => !declared.has(n));
  if (missing.length || extra.length) {
    const list = (xs: string[]) => xs.slice(0, 8).map((n) => clip(n)).join(', ') + (xs.length > 8 ? ` and ${xs.length - 8} more` : '');
    bad(
      (missing.length ? `missing tensor(s) ${list(missing)}` : '') +
        (missing.length && extra.length ? '; ' : '') +
        (extra.length ? `unexpected tensor(s) ${list(extra)}` : '') +
        ` for the config (${config.num_layers} layers, qkv_bias ${config.qkv_bias}, ${config.num_classes} classes` +
        `${declared.size > file.tensors.size ? `: ${declared.size} tensors, the file has ${file.tensors.size}` : ''}).${foreignHint(names)}`,
    );
  }
  const tensors = new Map<string, Float32Array>();
  const half = new Map<string, Uint16Array>();
  for (const [name, { shape, matrix }] of declared) {
    if (quant?.has(name)) continue;
    const t = file.tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      bad(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    // views (a caller that owns `bytes` and never changes them: the Hub loader): F32 tensors are
    // views of the file, not a second copy of it.
    const values = tensorAsFloat32(file as SafetensorsFile, t, views);
    const at = firstBadValue(values);
    if (at >= 0) bad(`tensor ${name} holds ${formatFloat32(values[at])} at flat index ${at} (shape [${t.shape.join(', ')}]): ${badValueReason(values[at])}`);
    tensors.set(name, values);
    // The file's half bits as they are: little-endian, as the GPU reads them (WebGPU's hosts are little-endian).
    if (t.dtype === 'F16' && matrix) half.set(name, new Uint16Array(new Uint8Array(file.bytes.subarray(t.begin, t.end)).buffer));
  }
  return { config, labels, preprocess, tensors, ...(half.size ? { half } : {}), ...(quant ? { quant } : {}) };
}
