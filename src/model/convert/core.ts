import { clip, WebvitError } from '../../runtime/errors.js';
import { oneLine, preview } from '../json_preview.js';
import type { Pooling } from '../../kernels/pool/op.js';
import { LIMITS, LIMITS_DOC, parseConfig, shapeOf, type ViTConfig } from '../config.js';
import { DTYPE_BYTES, tensorAsFloat32, type Dtype, type SafetensorsFile, type TensorEntry } from '../safetensors.js';
import { writeSafetensors, type RawTensorToWrite, type TensorToWrite } from '../safetensors_write.js';
import type { QuantKind } from '../../kernels/matmul/quant.js';
import { quantizeTensor } from './quantize.js';
import { badValueReason, declaredWeights, expectedTensors, firstBadValue, formatFloat32, type LoadedWeights } from '../weights.js';
import { resizePosEmbed, type ResizeMode } from './pos_embed.js';
import { checkLabels, labelsCountHint } from '../labels.js';
import { derive, Lazy, zeros } from './lazy.js';

/**
 * The part of checkpoint conversion every ecosystem shares (docs/checkpoints.md): a checkpoint
 * as a set of named tensors, a taker that records which tensors a layout used (so that every
 * tensor it did not use is an error that names it), the tensor reshuffles (transpose, conv
 * weight, QKV fusion), config inference from shapes, labels, position-embedding resizing and
 * writing the webvit file.
 */

/** The built-in layouts, and a family's (src/model/families/index.ts: `clip`, ...). */
export type Layout = 'hf' | 'timm' | 'torchvision' | 'webvit' | (string & {});

export const BUILT_IN_LAYOUTS = 'hf (Hugging Face transformers ViT), timm (timm vision_transformer / DeiT), torchvision (torchvision vit_*)';

/** One tensor of a source checkpoint, read on demand. */
export interface SourceTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** The file it lives in (for messages about sharded checkpoints). */
  file: string;
  read(): Float32Array;
}

/** A checkpoint as found on disk (or built in memory): tensors plus the config.json beside them. */
export interface Checkpoint {
  /** What messages call it (the path given). */
  source: string;
  tensors: Map<string, SourceTensor>;
  /** safetensors `__metadata__` (of the first file, for sharded checkpoints). */
  metadata: Record<string, string>;
  /** config.json next to the weights, parsed; undefined when there is none. */
  config?: Record<string, unknown>;
  /** Where `config` came from. */
  configSource?: string;
  /** A Hugging Face preprocessor_config.json (beside config.json, or named), parsed; see hf_preprocess.ts. */
  preprocessor?: Record<string, unknown>;
  /** Where `preprocessor` came from, and whether it was named explicitly (--preprocessor-config) rather than found. */
  preprocessorSource?: string;
  preprocessorExplicit?: boolean;
  /**
   * Every file read to build this checkpoint (weights or shards, the shard index, config.json), as
   * opened: `webvit convert` refuses to write its output over any of them.
   */
  files?: string[];
}

export interface ConvertOptions {
  /** Layout to read; detected from the tensor names when omitted. */
  layout?: Layout;
  /** Attention heads, where the checkpoint has no config saying so (timm, torchvision). */
  heads?: number;
  /** Run at this image size: position embeddings are resized on the patch grid. */
  imageSize?: number;
  /** Label names (one per class); override the checkpoint's own (HF id2label). */
  labels?: string[];
  /** Where the labels came from, for messages. */
  labelsSource?: string;
  /** timm only: the pooling a state dict cannot show (cls-token models trained with global_pool='avg' and no fc_norm). */
  pooling?: Pooling;
  /** How position embeddings are resized (default 'bicubic': align_corners=False, A = −0.75). */
  resize?: ResizeMode;
}

export interface Converted {
  layout: Layout;
  weights: LoadedWeights;
  /** What was read, inferred or assumed, one line each, for people. */
  notes: string[];
  /** Other `__metadata__` to write (a re-encoded webvit file keeps its extra keys, e.g. webvit.preprocess). */
  metadata?: Record<string, string>;
}

/** The converted weights before their values are made: the config, labels, and each tensor as a Lazy (lazy.ts). */
export interface PlannedWeights {
  config: ViTConfig;
  labels?: string[];
  tensors: Map<string, Lazy>;
}

/** What a layout's converter returns: everything of Converted, from the checkpoint's header and config only. */
export interface Planned extends Omit<Converted, 'weights'> {
  weights: PlannedWeights;
}

/** The planned tensors' values, made from the checkpoint's tensors (each read when a tensor asks for it). */
export function makeWeights(p: PlannedWeights, ckpt: Checkpoint): LoadedWeights {
  const get = (name: string) => ckpt.tensors.get(name)!.read();
  const tensors = new Map<string, Float32Array>();
  for (const [name, lazy] of p.tensors) tensors.set(name, lazy.make(get));
  return { config: p.config, labels: p.labels, tensors };
}

export const fail = (source: string, msg: string): never => {
  throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${msg}`));
};

/**
 * A count or size read from a checkpoint's config.json, checked against its limit in LIMITS
 * (docs/weights-format.md#limits) before anything is sized by it.
 */
export function checkLimit(source: string, where: string, key: string, value: number, limit: keyof typeof LIMITS): void {
  if (value > LIMITS[limit]) throw new WebvitError('BAD_CONFIG', oneLine(`${source}: ${where} ${key} is ${value}, above the limit of ${LIMITS[limit]} (${LIMITS_DOC})`));
}

/**
 * Sizes read from a tensor's shape, checked against their limits before anything is sized by
 * them: a tensor with a zero dimension holds no data, so its other dimensions can be anything.
 */
export function checkShapeLimits(source: string, tensor: string, shape: number[], sizes: [index: number, limit: keyof typeof LIMITS][]): void {
  for (const [i, limit] of sizes) {
    if (shape[i] > LIMITS[limit]) {
      throw new WebvitError('BAD_WEIGHTS', oneLine(`${source}: ${tensor} ${fmtShape(shape)} gives ${limit} ${shape[i]}, above the limit of ${LIMITS[limit]} (${LIMITS_DOC})`));
    }
  }
}

/** Values of any float tensor as float32 (F64 narrowed here; the loader itself refuses F64). */
export function readFloat32(file: SafetensorsFile, t: TensorEntry): Float32Array {
  if (t.dtype !== 'F64') return tensorAsFloat32(file, t);
  const n = t.shape.reduce((a, d) => a * d, 1);
  const raw = file.bytes.subarray(t.begin, t.end);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = view.getFloat64(8 * i, true);
    out[i] = v;
    // Beyond float32's range it would read as ±Infinity: named as the value the file holds.
    if (Number.isFinite(v) && !Number.isFinite(out[i])) fail(file.source, `tensor ${clip(t.name)} holds ${v} at flat index ${i} (F64, shape ${fmtShape(t.shape)}): beyond float32's range, ${badValueReason(v)}`);
  }
  return out;
}

/** Tensors of one safetensors file as source tensors. */
export function sourceTensors(file: SafetensorsFile): SourceTensor[] {
  return [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, file: file.source, read: () => readFloat32(file, t) }));
}

/** An in-memory checkpoint (tests, programs that already hold arrays). */
export function checkpointFromArrays(
  source: string,
  tensors: Record<string, { shape: number[]; data: Float32Array | number[] }>,
  config?: Record<string, unknown>,
  metadata: Record<string, string> = {},
): Checkpoint {
  const m = new Map<string, SourceTensor>();
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    m.set(name, { name, dtype: 'F32', shape: t.shape, file: source, read: () => data.slice() });
  }
  return { source, tensors: m, metadata, config, configSource: config ? `${source}/config.json` : undefined };
}

const fmtShape = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Names, compactly: numeric path segments are grouped, so 24 layer-scale tensors read
 * `blocks.{0-11}.ls1.gamma, blocks.{0-11}.ls2.gamma`; after 40 entries, "and N more".
 */
export function listNames(names: string[]): string {
  const groups = new Map<string, number[]>();
  const single: string[] = [];
  for (const n of names) {
    const m = /^(.*?)\.(\d+)\.(.*)$/.exec(n);
    if (!m) {
      single.push(n);
      continue;
    }
    const key = `${m[1]}.{}.${m[3]}`;
    const list = groups.get(key) ?? [];
    list.push(Number(m[2]));
    groups.set(key, list);
  }
  const out = [...single].map((n) => clip(n));
  for (const [key, idx] of groups) {
    idx.sort((a, b) => a - b);
    if (idx.length === 1) {
      out.push(clip(key.replace('{}', String(idx[0]))));
      continue;
    }
    const runs: string[] = [];
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1] === idx[j] + 1) j++;
      runs.push(j === i ? `${idx[i]}` : `${idx[i]}-${idx[j]}`);
      i = j + 1;
    }
    out.push(clip(key).replace('{}', `{${cap(runs, 20, ',')}}`));
  }
  // Every one, up to a point: a checkpoint of another architecture can have hundreds.
  return cap(out, 40, ', ');
}

/** A source tensor's values, refused (naming its file and the index) when one is NaN, ±Inf or beyond the weight limit. */
export function checkTaken(t: Pick<SourceTensor, 'name' | 'file' | 'shape'>, values: Float32Array): Float32Array {
  const at = firstBadValue(values);
  if (at >= 0) fail(t.file, `tensor ${t.name} holds ${formatFloat32(values[at])} at flat index ${at} (shape ${fmtShape(t.shape)}): ${badValueReason(values[at])}`);
  return values;
}

/**
 * Hands out a checkpoint's tensors by name and shape, and remembers which were taken. `finish()`
 * reports, in one message, every tensor missing, every one mis-shaped and every one left unused.
 */
export class TensorTaker {
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly misshaped: string[] = [];
  /** Values the checkpoint holds in all; and values handed out as zeros for missing or mis-shaped tensors. */
  private readonly held: number;
  private stand_ins = 0;

  constructor(
    readonly ckpt: Checkpoint,
    readonly layout: Layout,
  ) {
    let held = 0;
    for (const t of ckpt.tensors.values()) held += t.shape.reduce((a, d) => a * d, 1);
    this.held = held;
  }

  has(name: string): boolean {
    return this.ckpt.tensors.has(name);
  }

  shape(name: string): number[] | undefined {
    return this.ckpt.tensors.get(name)?.shape;
  }

  /**
   * The values of `name`, which must have exactly `shape` (recorded as missing / mis-shaped
   * otherwise: zeros stand in), as a Lazy: read, and checked value by value (checkTaken), when made.
   */
  take(name: string, shape: number[]): Lazy {
    const t = this.ckpt.tensors.get(name);
    if (!t) {
      this.missing.push(name);
      return this.standIn(shape);
    }
    this.used.add(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      this.misshaped.push(`${clip(name)} is ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
      return this.standIn(shape);
    }
    const n = shape.reduce((a, d) => a * d, 1);
    return new Lazy(n, [name], (get) => checkTaken(t, get(name)), name);
  }

  /**
   * Zeros in place of a missing or mis-shaped tensor, so that the mapping runs on and finish() can
   * name every problem at once. The shapes asked for come from a config or other tensors' shapes,
   * which may be wrong by any factor: once the stand-ins would hold more values than the whole
   * checkpoint, stop at once with the problems found so far rather than allocate them.
   */
  private standIn(shape: number[]): Lazy {
    const n = shape.reduce((a, d) => a * d, 1);
    this.stand_ins += n;
    if (this.stand_ins > this.held) {
      fail(
        this.ckpt.source,
        `as a ${this.layout} checkpoint: ${this.problems().join('; ')} (stopped there: the tensors expected so far would hold ` +
          `${this.stand_ins} values, more than the ${this.held} the checkpoint has)`,
      );
    }
    return zeros(n);
  }

  private problems(): string[] {
    const parts: string[] = [];
    if (this.missing.length) parts.push(`missing tensor(s) ${listNames(this.missing)}`);
    if (this.misshaped.length) parts.push(`mis-shaped tensor(s): ${cap(this.misshaped, 8)}`);
    return parts;
  }

  /** take() when present, undefined (and nothing recorded) when absent. */
  takeIf(name: string, shape: number[]): Lazy | undefined {
    return this.has(name) ? this.take(name, shape) : undefined;
  }

  /** Marks tensors as deliberately not used (a documented rule says why; the caller notes it). */
  drop(names: string[]): void {
    for (const n of names) this.used.add(n);
  }

  unused(): string[] {
    return [...this.ckpt.tensors.keys()].filter((n) => !this.used.has(n));
  }

  /** Throws one error naming every missing, mis-shaped and unused tensor, if any. */
  finish(context: string): void {
    const unused = this.unused();
    if (!this.missing.length && !this.misshaped.length && !unused.length) return;
    const parts = this.problems();
    if (unused.length) parts.push(`unused tensor(s) ${listNames(unused)} (webvit cannot run what these do)`);
    fail(this.ckpt.source, `as a ${this.layout} checkpoint (${context}): ${parts.join('; ')}`);
  }
}

/** A positive number from config.json; a count or size (`limit` given) must be an integer within its limit (LIMITS). */
export const configNumber = (cfg: Record<string, unknown>, key: string, where: string, source: string, limit?: keyof typeof LIMITS): number | undefined => {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.length === 2 && v[0] === v[1]) return configNumber({ [key]: v[0] }, key, where, source, limit);
  if (typeof v !== 'number' || !(v > 0)) fail(source, `${where} ${key} must be a positive number, got ${preview(v)}`);
  if (limit) {
    // A count or size: a whole number (hidden_size 5e-324 is positive, and sizes nothing).
    if (!Number.isInteger(v)) fail(source, `${where} ${key} must be a positive integer, got ${preview(v)}`);
    checkLimit(source, where, key, v as number, limit);
  }
  return v as number;
};

/** A true/false field of config.json, or undefined when absent; another kind ("false", 0) is refused, naming it (it was taken as the default). */
export const configBool = (cfg: Record<string, unknown>, key: string, where: string, source: string): boolean | undefined => {
  const v = cfg[key];
  if (v !== undefined && typeof v !== 'boolean') fail(source, `${where} ${key} must be true or false, got ${preview(v)}`);
  return v as boolean | undefined;
};

/**
 * Where one encoder block's tensors are in a checkpoint whose attention has separate q, k and v
 * projections (Hugging Face ViT, CLIP, DINOv2): each a name without `.weight` / `.bias`, PyTorch's
 * [out, in] layout.
 */
export interface SplitQkvBlock {
  norm1: string;
  q: string;
  k: string;
  v: string;
  out: string;
  norm2: string;
  fc1: string;
  fc2: string;
  /** fc1's output width when it is not F: 2F for a SwiGLU MLP (its [x1 | x2] halves, in the checkpoint's order). */
  fc1Width?: number;
}

/**
 * Block `i` of such a checkpoint as webvit's `blocks.{i}.*` in `t`: q, k and v fused into one
 * [D, 3D] matmul (columns q, then k, then v), every linear weight transposed to [in, out].
 */
export function takeSplitQkvBlock(tk: TensorTaker, t: Map<string, Lazy>, i: number, n: SplitQkvBlock, D: number, F: number, qkvBias: boolean): void {
  const d = `blocks.${i}.`;
  const linear = (name: string, from: string, out: number, inp: number) => {
    t.set(`${d}${name}.weight`, linearWeight(tk.take(`${from}.weight`, [out, inp]), out, inp));
    t.set(`${d}${name}.bias`, tk.take(`${from}.bias`, [out]));
  };
  for (const [name, from] of [['norm1', n.norm1], ['norm2', n.norm2]]) {
    t.set(`${d}${name}.weight`, tk.take(`${from}.weight`, [D]));
    t.set(`${d}${name}.bias`, tk.take(`${from}.bias`, [D]));
  }
  const qkv = [n.q, n.k, n.v];
  t.set(`${d}attn.qkv.weight`, linearWeight(concat(qkv.map((x) => tk.take(`${x}.weight`, [D, D]))), 3 * D, D));
  if (qkvBias) t.set(`${d}attn.qkv.bias`, concat(qkv.map((x) => tk.take(`${x}.bias`, [D]))));
  linear('attn.proj', n.out, D, D);
  linear('mlp.fc1', n.fc1, n.fc1Width ?? F, D);
  linear('mlp.fc2', n.fc2, D, F);
}

/** [rows, cols] row-major -> [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  if (a.length !== rows * cols) throw new Error(`transpose: ${a.length} values for [${rows}, ${cols}]`);
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** PyTorch linear weight [out, in] -> webvit [in, out]. */
export const linearWeight = (w: Lazy, out: number, inp: number): Lazy => derive([w], w.length, ([v]) => transpose(v, out, inp));

/** Conv weight [D, C, P, P] -> webvit patch_embed.weight [C·P·P, D] (k = c·P·P + ky·P + kx). */
export const convWeight = (w: Lazy, D: number, K: number): Lazy => derive([w], w.length, ([v]) => transpose(v, D, K));

/** Concatenates tensors (QKV fusion, rows of pos_embed). */
export const concat = (parts: Lazy[]): Lazy => derive(parts, parts.reduce((a, p) => a + p.length, 0), concatValues);

/** Concatenates arrays. */
export function concatValues(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Scales column j of a [rows, cols] matrix (and entry j of a bias) by g[j]: folds layer scale into a linear layer. */
export function scaleColumns(w: Float32Array, rows: number, cols: number, g: Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] *= g[c];
}

/** Where a folded layer scale comes from in the checkpoint: the linear layer's weight and bias, and the scale γ. */
export interface LayerScaleSource {
  weight: string;
  bias: string;
  scale: string;
}

/**
 * Layer scale folded into the linear layer before it (timm's ls1/ls2.gamma, DINOv2's
 * layer_scale1/2.lambda1): x + γ ⊙ (a·W + b) = x + a·(W·diag γ) + γ ⊙ b, as copies. `w` is
 * webvit's [rows, D] (in, out) weight, `b` [D]. Each factor passed the weight limits when it was
 * taken, but their product need not: a product beyond them is refused here, naming the
 * checkpoint's two tensors and index (webvit's fused name, blocks.{i}.attn.proj, is one the user
 * never saw).
 */
export function foldLayerScale(tk: TensorTaker, w: Lazy, b: Lazy, rows: number, g: Lazy, src: LayerScaleSource): [Lazy, Lazy] {
  const D = g.length;
  const fw = derive([w, g], w.length, ([wv, gv]) => {
    const out = wv.slice();
    scaleColumns(out, rows, D, gv);
    return checkFolded(tk, out, wv, gv, src.weight, src);
  });
  const fb = derive([b, g], b.length, ([bv, gv]) => checkFolded(tk, Float32Array.from(bv, (x, j) => x * gv[j]), bv, gv, src.bias, src));
  return [fw, fb];
}

/** A folded weight or bias, refused where the product of two good values is not one (foldLayerScale). */
function checkFolded(tk: TensorTaker, folded: Float32Array, from: Float32Array, g: Float32Array, name: string, src: LayerScaleSource): Float32Array {
  const D = g.length;
  const at = firstBadValue(folded);
  if (at < 0) return folded;
  {
    const [r, j] = [Math.floor(at / D), at % D];
    // The checkpoint's index: PyTorch's weight is [out, in], the transpose of webvit's.
    const index = name === src.weight ? `[${j}, ${r}]` : `[${j}]`;
    fail(
      tk.ckpt.tensors.get(name)?.file ?? tk.ckpt.source,
      `folding the layer scale ${clip(src.scale)} into ${clip(name)} gives ${formatFloat32(folded[at])} ` +
        `(${clip(name)}${index} ${formatFloat32(from[at])} × ${clip(src.scale)}[${j}] ${formatFloat32(g[j])}), ${badValueReason(folded[at])}; ` +
        `the checkpoint's values are not a trained model's (a damaged or mis-exported file): re-download or re-export it`,
    );
  }
  return folded;
}

/** Standard head counts by hidden size (ViT-Ti/S/B/L/H); used when nothing else says, and said so. */
export const DEFAULT_HEADS: Record<number, number> = { 192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16 };

/**
 * The number of heads: `--heads`, else the checkpoint's config, else the standard count for the
 * hidden size (noted as assumed), else an error asking for `--heads`.
 */
export function resolveHeads(source: string, D: number, given: number | undefined, fromConfig: number | undefined, configName: string, notes: string[]): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 1 || D % given !== 0) fail(source, `--heads ${given} does not divide the hidden size ${D}`);
    if (fromConfig !== undefined && fromConfig !== given) fail(source, `--heads ${given} contradicts ${configName} (${fromConfig} heads)`);
    notes.push(`num_heads ${given} (from --heads)`);
    return given;
  }
  if (fromConfig !== undefined) return fromConfig;
  const d = DEFAULT_HEADS[D];
  if (d === undefined) {
    fail(
      source,
      `cannot infer the number of attention heads: the tensor shapes do not show it and hidden size ${D} has no standard head count ` +
        `(${Object.entries(DEFAULT_HEADS).map(([h, n]) => `${h}→${n}`).join(', ')}); pass --heads N (N must divide ${D})`,
    );
  }
  notes.push(`ASSUMED num_heads ${d}: the standard count for hidden size ${D} (the weights do not show it); pass --heads N if the model differs`);
  return d;
}

/** Patch grid side from position-embedding rows and prefix tokens; error when it is not a square. */
export function gridOf(source: string, name: string, rows: number, prefix: number): number {
  const g = Math.round(Math.sqrt(rows - prefix));
  if (rows - prefix < 1 || g * g !== rows - prefix) {
    fail(source, `${name} has ${rows} rows, which is not ${prefix} prefix token(s) plus a square patch grid`);
  }
  return g;
}

/** At most `max` items, then "and N more". */
export function cap(items: string[], max: number, sep = '; '): string {
  return items.slice(0, max).join(sep) + (items.length > max ? `${sep}and ${items.length - max} more` : '');
}

/**
 * Number of blocks: indices 0..n−1 of names matching `re` (first group = index), all present. An
 * index is checked against the layer limit as it is read (one tensor named blocks.1000000000.*
 * must not make anything a billion long); gaps are listed as ranges, the first few only.
 */
export function countLayers(ckpt: Checkpoint, re: RegExp, what: string): number {
  const idx = new Set<number>();
  let top = -1;
  let topName = '';
  for (const n of ckpt.tensors.keys()) {
    const m = re.exec(n);
    if (!m) continue;
    const i = Number(m[1]);
    if (!(i < LIMITS.num_layers)) fail(ckpt.source, `tensor ${clip(n)} is in ${what} ${clip(m[1])}, above the limit of ${LIMITS.num_layers} layers (${LIMITS_DOC})`);
    idx.add(i);
    if (i > top) [top, topName] = [i, n];
  }
  if (idx.size === 0) fail(ckpt.source, `has no ${what} tensors (no name matches ${re.source})`);
  const n = top + 1;
  if (idx.size !== n) {
    const runs: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      if (idx.has(i)) continue;
      let j = i;
      while (j + 1 < n && !idx.has(j + 1)) j++;
      runs.push([i, j]);
      i = j;
    }
    const shown = runs.slice(0, 8);
    const count = (rs: [number, number][]) => rs.reduce((a, [i, j]) => a + j - i + 1, 0);
    const more = count(runs) - count(shown);
    const list = shown.map(([i, j]) => (i === j ? `${i}` : `${i}-${j}`)).join(', ');
    fail(ckpt.source, `has ${what} ${top} (${clip(topName)}) but no tensors for ${what}(s) ${list}${more ? `, and ${more} more` : ''}`);
  }
  return n;
}

/**
 * Label list checked against the class count and label by label (`checkLabels`: none empty, none
 * with a control character, line break or bidi override); undefined when there are none to carry.
 */
export function resolveLabels(
  source: string,
  numClasses: number,
  fromOptions: string[] | undefined,
  optionsSource: string | undefined,
  fromCheckpoint: string[] | undefined,
  checkpointSource: string,
  notes: string[],
): string[] | undefined {
  if (fromOptions) {
    const file = optionsSource ?? '--labels';
    if (numClasses === 0) fail(source, `the model has no classifier (num_classes 0), so labels (${file}) do not apply: it gives features; leave --labels out`);
    if (fromOptions.length !== numClasses) {
      const n = fromOptions.length;
      fail(
        source,
        `${file} has ${n} label${n === 1 ? '' : 's'} but the classifier has ${numClasses} classes${labelsCountHint(fromOptions, numClasses)}; ` +
          `give a file of exactly ${numClasses} lines, one label per class in class-index order (line 1 is class 0), UTF-8, nothing else on a line`,
      );
    }
    const problem = checkLabels(fromOptions, (i) => `${file}: label ${i} (line ${i + 1})`);
    if (problem) fail(source, problem);
    notes.push(`labels: ${numClasses} from ${file}`);
    return fromOptions;
  }
  if (!fromCheckpoint) return undefined;
  if (numClasses === 0) {
    notes.push(`labels: ignored the ${fromCheckpoint.length} in ${checkpointSource}: the model has no classifier`);
    return undefined;
  }
  if (fromCheckpoint.length !== numClasses) {
    fail(source, `${checkpointSource} has ${fromCheckpoint.length} labels but the classifier has ${numClasses} classes; pass --labels FILE (one per line)`);
  }
  const problem = checkLabels(fromCheckpoint, (i) => `${checkpointSource}: label ${i}`);
  if (problem) fail(source, `${problem}; pass --labels FILE (one per line) instead`);
  notes.push(`labels: ${numClasses} from ${checkpointSource}`);
  return fromCheckpoint;
}

/** HF-style id2label ({"0": "tench", ...}) as a list; error when the ids are not 0..n−1. */
export function labelsFromId2Label(source: string, where: string, raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(source, `${where} must be an object of id: label, got ${preview(raw)}`);
  const entries = Object.entries(raw as Record<string, unknown>);
  const out: string[] = new Array(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || out[i] !== undefined) fail(source, `${where} ids must be 0..${entries.length - 1} once each, got "${clip(k)}"`);
    if (typeof v !== 'string') fail(source, `${where}["${clip(k)}"] must be a string, got ${preview(v)}`);
    out[i] = v as string;
  }
  return out;
}

/**
 * The shared tail of every layout: checks the config, resizes the position embeddings when asked,
 * and checks the tensor set against what the config calls for (a mismatch here is a converter bug).
 */
export function finishWeights(
  source: string,
  raw: Omit<ViTConfig, 'image_size'> & { image_size: number },
  tensors: Map<string, Lazy>,
  labels: string[] | undefined,
  options: ConvertOptions,
  notes: string[],
  /** Where options.imageSize came from, for messages (DINOv2 runs at its processor's crop_size unless --image-size says). */
  sizeFrom = '--image-size',
): PlannedWeights {
  let config = parseConfig(raw, `${source} (converted config)`);
  if (options.imageSize !== undefined && options.imageSize !== config.image_size) {
    const size = options.imageSize;
    if (!Number.isInteger(size) || size < 1 || size % config.patch_size !== 0) {
      fail(source, `${sizeFrom} ${size} is not a positive multiple of the patch size ${config.patch_size}`);
    }
    // The limits first: the resized position embeddings are sized by it.
    const resized = parseConfig({ ...config, image_size: size }, `${source} with ${sizeFrom} ${size}`);
    const s = shapeOf(config);
    const mode = options.resize ?? 'bicubic';
    const newGrid = size / config.patch_size;
    const D = config.hidden_size;
    const resize = (old: Float32Array) => {
      const pos = resizePosEmbed(old, { prefix: s.prefixTokens, dim: D, oldGrid: s.grid, newGrid, mode });
      // Each value passed the weight limits when taken; an interpolation (bicubic overshoots) need not:
      // refuse it here, saying so (it was refused only on read-back, naming the output and pos_embed).
      const at = firstBadValue(pos);
      if (at >= 0) {
        fail(
          source,
          `resizing the position embeddings ${s.grid}x${s.grid} -> ${newGrid}x${newGrid} (${mode}, for ${sizeFrom} ${size}) gives ${formatFloat32(pos[at])} at row ${Math.floor(at / D)}, ` +
            `${badValueReason(pos[at])}; the checkpoint's position embeddings are not a trained model's (a damaged or mis-exported file): re-download or re-export it`,
        );
      }
      return pos;
    };
    tensors.set('pos_embed', derive([tensors.get('pos_embed')!], (s.prefixTokens + newGrid * newGrid) * D, ([p]) => resize(p)));
    notes.push(
      `image_size ${config.image_size} -> ${size}: position embeddings resized ${s.grid}x${s.grid} -> ${newGrid}x${newGrid} (${mode}` +
        `${mode === 'bicubic' ? ', align_corners=False, A = -0.75' : ''}), ${s.prefixTokens} prefix row(s) kept`,
    );
    config = resized;
  }
  const expected = expectedTensors(config);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    const n = shape.reduce((a, d) => a * d, 1);
    if (!t || t.length !== n) throw new Error(`internal: converter produced ${name} with ${t?.length} values, expected ${fmtShape(shape)}`);
  }
  for (const name of tensors.keys()) if (!expected.has(name)) throw new Error(`internal: converter produced unexpected tensor ${name}`);
  const ordered = new Map<string, Lazy>();
  for (const name of expected.keys()) ordered.set(name, tensors.get(name)!);
  return { config, labels, tensors: ordered };
}

/** One-line summary of a config, for messages. */
export function describeConfig(c: ViTConfig): string {
  const prefix = c.distilled ? 'class+distillation tokens' : c.class_token ? 'class token' : 'no class token';
  return (
    `${c.family && c.family !== 'vit' ? `${c.family}: ` : ''}image ${c.image_size}, patch ${c.patch_size}, ${c.num_channels} channel(s), hidden ${c.hidden_size}, ${c.num_layers} layers, ${c.num_heads} heads, ` +
    `MLP ${c.mlp_size}, ${c.num_classes} classes, eps ${c.layer_norm_eps.toExponential()}, qkv_bias ${c.qkv_bias}, ${prefix}, pooling ${c.pooling}${c.fc_norm ? ' (fc_norm)' : ''}` +
    `${c.hidden_act && c.hidden_act !== 'gelu' ? `, ${c.hidden_act}` : ''}${c.pre_norm ? ', pre_norm' : ''}${c.projection_size ? `, projection ${c.projection_size}` : ''}${c.mlp ? `, ${c.mlp} MLP` : ''}`
  );
}

/** F32, F16 (every tensor), or a quantised file: the matmul weights int8 or q4, the rest F32 (docs/quantization.md). */
export type OutputDtype = 'F32' | 'F16' | QuantKind;

/** The `__metadata__` of a webvit weight file of this config and labels, with `extra` keys after. */
export function weightFileMetadata(config: ViTConfig, labels: string[] | undefined, extra: Record<string, string>): Record<string, string> {
  const metadata: Record<string, string> = { format: 'webvit', 'webvit.version': '1', 'webvit.config': JSON.stringify(config) };
  if (labels) metadata['webvit.labels'] = JSON.stringify(labels);
  Object.assign(metadata, extra);
  // The marker is the encoder's to set: the file is quantised exactly when it is written so.
  delete metadata['webvit.quant'];
  return metadata;
}

/** The output dtype for a user-facing name (`--dtype`, the Hub loaders' `dtype`): f32, f16, int8, q4. */
export const outputDtype = (d: 'f32' | 'f16' | QuantKind): OutputDtype => (d === 'f32' ? 'F32' : d === 'f16' ? 'F16' : d);

/**
 * A converted model as webvit weight-file bytes (tensors in canonical order). A quantised file
 * (int8, q4) stores each matmul weight as codes and scales (quantizeTensor), marks itself with
 * `webvit.quant`, and orders the tensors by alignment: F32, then F16 scales, then the byte-sized
 * codes, so that every F32 tensor starts at a multiple of 4 bytes (read as a view, not a copy).
 */
export function encodeWeights(w: LoadedWeights, dtype: OutputDtype = 'F32', extraMetadata: Record<string, string> = {}): Uint8Array {
  const metadata = weightFileMetadata(w.config, w.labels, extraMetadata);
  if (w.quant?.size) throw new WebvitError('BAD_ARGUMENT', 'encodeWeights: these weights are already quantised; encode the f32 or f16 model they came from');
  const declared = declaredWeights(w.config);
  const tensors = [...w.tensors].map(([name, data]) => ({ name, shape: declared.get(name)!.shape, data }));
  if (dtype !== 'int8' && dtype !== 'q4') return writeSafetensors(tensors, metadata, { dtype });
  metadata['webvit.quant'] = dtype;
  const stored = tensors.flatMap((t): (TensorToWrite | RawTensorToWrite)[] => (declared.get(t.name)!.matrix ? quantizeTensor(t.name, t.data, t.shape, dtype) : [t]));
  const align = (t: TensorToWrite | RawTensorToWrite) => ('bytes' in t ? DTYPE_BYTES[t.dtype] : 4);
  // A stable sort: canonical order within each dtype.
  return writeSafetensors(stored.sort((a, b) => align(b) - align(a)), metadata);
}
