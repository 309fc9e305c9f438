import { checkOptionKeys, clip, WebvitError } from '../../runtime/errors.js';
import { readWeights } from '../weights.js';
import { writeSafetensors } from '../safetensors_write.js';
import { BUILT_IN_LAYOUTS, describeConfig, fail, finishWeights, listNames, makeWeights, resolveLabels, type Checkpoint, type ConvertOptions, type Converted, type Layout, type Planned } from './core.js';
import { known, type Lazy } from './lazy.js';
import { convertHf, detectHf } from './hf.js';
import { convertTimm, detectTimm } from './timm.js';
import { convertTorchvision, detectTorchvision } from './torchvision.js';
import { FAMILIES } from '../families/index.js';

export * from './core.js';
export { resizePosEmbed, RESIZE_MODES, type ResizeMode } from './pos_embed.js';

const DETECT: [Exclude<Layout, 'webvit'>, (names: string[]) => boolean][] = [
  ['hf', detectHf],
  ['timm', detectTimm],
  ['torchvision', detectTorchvision],
  ...FAMILIES.map((f) => [f.layout, f.detect] as [string, (names: string[]) => boolean]),
];

/** Every layout `convert` reads (`--layout`). */
export const LAYOUTS: readonly string[] = ['hf', 'timm', 'torchvision', ...FAMILIES.map((f) => f.layout), 'webvit'];

/** The layouts, for messages. */
export const SUPPORTED = `supported layouts: ${BUILT_IN_LAYOUTS}, ${FAMILIES.map((f) => f.describe).join(', ')}`;

/** Which layout a checkpoint is in, from its tensor names (and metadata for webvit files). */
/** A checkpoint as readCheckpoint returns it, or a BAD_ARGUMENT naming the function given something else. */
function checkCheckpoint(ckpt: Checkpoint, where: string): void {
  if (typeof ckpt !== 'object' || ckpt === null || !(ckpt.tensors instanceof Map) || typeof ckpt.metadata !== 'object' || ckpt.metadata === null) {
    throw new WebvitError('BAD_ARGUMENT', `${where}: expected a checkpoint as readCheckpoint(path) returns it ({ source, tensors: Map, metadata, ... }), got ${ckpt === null ? 'null' : typeof ckpt}`);
  }
}

/**
 * The layouts whose detection fits these names. A family's detection looks for its own tensors,
 * while Hugging Face ViT's also fits the families built on its encoder (DINOv2 and others): when a
 * family fits, the built-in layouts that fit as well are left out.
 */
function fitting(names: string[]): Layout[] {
  const hits = DETECT.filter(([, d]) => d(names)).map(([l]) => l);
  const families = hits.filter((l) => FAMILIES.some((f) => f.layout === l));
  return families.length ? families : hits;
}

export function detectLayout(ckpt: Checkpoint): Layout {
  checkCheckpoint(ckpt, 'detectLayout');
  if (ckpt.metadata.format === 'webvit' && ckpt.metadata['webvit.config'] !== undefined) return 'webvit';
  const names = [...ckpt.tensors.keys()];
  const hits = fitting(names);
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) fail(ckpt.source, `tensor names fit more than one layout (${hits.join(', ')}); pass --layout`);
  const sample = names.length ? `${names.length} tensor${names.length === 1 ? '' : 's'}: ${listNames(names.slice(0, 6))}${names.length > 6 ? ', ...' : ''}` : 'no tensors';
  return fail(ckpt.source, `unknown checkpoint layout (${sample}); ${SUPPORTED}`);
}

/**
 * Re-encodes a webvit file (for --dtype f16, --labels, --image-size). Its values are read now (the
 * file is checked whole by readWeights), so it cannot be planned from a header alone: a streamed
 * conversion refuses it (stream.ts).
 */
function convertWebvit(ckpt: Checkpoint, o: ConvertOptions): Planned {
  const notes: string[] = [];
  const q = ckpt.metadata['webvit.quant'];
  if (q !== undefined) fail(ckpt.source, `is already quantised (webvit.quant ${clip(q)}): its matmul weights are codes, not values; convert the f32 or f16 file it was made from`);
  const tensors = [...ckpt.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: t.read() }));
  const w = readWeights(writeSafetensors(tensors, ckpt.metadata), ckpt.source);
  if (o.heads !== undefined && o.heads !== w.config.num_heads) fail(ckpt.source, `--heads ${o.heads} contradicts the file's config (${w.config.num_heads} heads)`);
  if (o.pooling !== undefined && o.pooling !== w.config.pooling) fail(ckpt.source, `--pooling ${o.pooling} contradicts the file's config (pooling ${w.config.pooling})`);
  notes.push('already a webvit weight file: re-encoded');
  const labels = resolveLabels(ckpt.source, w.config.num_classes, o.labels, o.labelsSource, w.labels, 'its webvit.labels', notes);
  const weights = finishWeights(ckpt.source, w.config, new Map<string, Lazy>([...w.tensors].map(([n, v]) => [n, known(v)])), labels, o, notes);
  notes.push(`config: ${describeConfig(weights.config)}`);
  // Keep the file's other metadata (webvit.preprocess, provenance), except where it no longer fits.
  const own = new Set(['format', 'webvit.version', 'webvit.config', 'webvit.labels']);
  const metadata = Object.fromEntries(Object.entries(ckpt.metadata).filter(([k]) => !own.has(k)));
  if (metadata['webvit.preprocess'] !== undefined && weights.config.image_size !== w.config.image_size) {
    delete metadata['webvit.preprocess'];
    notes.push(`dropped webvit.preprocess: its centre crop was for image_size ${w.config.image_size}; set it again for ${weights.config.image_size} (tools/set_preprocess.py)`);
  }
  return { layout: 'webvit', weights, notes, metadata };
}

/**
 * A built-in --layout that the tensor names plainly contradict (they fit another layout, and not
 * this one) is refused saying which they fit, as the families' converters do (hostile round
 * twelve: "--layout timm" on a Hugging Face folder said only that patch_embed.proj.weight was missing).
 */
function checkForcedLayout(ckpt: Checkpoint, layout: Layout): void {
  if (FAMILIES.some((f) => f.layout === layout)) return; // each family's converter says it itself
  const isWebvit = ckpt.metadata.format === 'webvit' && ckpt.metadata['webvit.config'] !== undefined;
  const names = [...ckpt.tensors.keys()];
  const fits = isWebvit ? ['webvit'] : fitting(names);
  if (fits.length === 0 || fits.includes(layout)) return;
  fail(ckpt.source, `--layout ${layout}, but these tensors are ${fits.length === 1 ? `a ${fits[0]} checkpoint's` : `of the ${fits.join(' or ')} layouts`} (detected from the names), not ${layout === 'webvit' ? 'a webvit file' : `${layout}'s`}; leave --layout out to detect the layout`);
}

/** Converts a checkpoint (any supported layout) to webvit weights; see docs/checkpoints.md. */
export function convertCheckpoint(ckpt: Checkpoint, options: ConvertOptions = {}): Converted {
  const r = planCheckpoint(ckpt, options);
  return { ...r, weights: makeWeights(r.weights, ckpt) };
}

/**
 * What convertCheckpoint does, from the checkpoint's header, config and options only: every check
 * of names, shapes and config, the notes, and each output tensor as a Lazy that makes its values
 * when asked (all at once: convertCheckpoint; as the bytes arrive: stream.ts).
 */
export function planCheckpoint(ckpt: Checkpoint, options: ConvertOptions = {}): Planned {
  checkCheckpoint(ckpt, 'convertCheckpoint');
  const wrong = (what: string): never => {
    throw new WebvitError('BAD_ARGUMENT', `convertCheckpoint: ${what}`);
  };
  checkOptionKeys(options, ['layout', 'heads', 'imageSize', 'labels', 'labelsSource', 'pooling', 'resize'], 'convertCheckpoint');
  const { layout: l, labels, imageSize, heads } = options;
  if (l !== undefined && !LAYOUTS.includes(l)) wrong(`layout must be ${LAYOUTS.join(', ')}, got ${clip(String(l))}`);
  if (labels !== undefined && !(Array.isArray(labels) && labels.every((x) => typeof x === 'string'))) wrong('labels must be an array of strings');
  for (const [name, v] of [['imageSize', imageSize], ['heads', heads]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) wrong(`${name} must be a positive whole number, got ${clip(JSON.stringify(v) ?? String(v))}`);
  }
  const detected = options.layout ? undefined : detectLayout(ckpt);
  const layout = options.layout ?? detected!;
  if (options.layout) checkForcedLayout(ckpt, options.layout);
  const readsProcessor = layout === 'hf' || FAMILIES.some((f) => f.layout === layout);
  if (ckpt.preprocessorExplicit && !readsProcessor) fail(ckpt.source, `--preprocessor-config applies to Hugging Face checkpoints; this one is ${layout}`);
  const family = FAMILIES.find((f) => f.layout === layout);
  const r = family
    ? family.convert(ckpt, options)
    : layout === 'hf'
      ? convertHf(ckpt, options)
      : layout === 'timm'
        ? convertTimm(ckpt, options)
        : layout === 'torchvision'
          ? convertTorchvision(ckpt, options)
          : convertWebvit(ckpt, options);
  if (ckpt.preprocessor && !readsProcessor) {
    // A Hugging Face image processor means nothing to the other layouts' files.
    r.notes.push(`${ckpt.preprocessorSource} not used: a Hugging Face image processor, and this checkpoint is ${layout}`);
  }
  r.notes.unshift(`layout ${layout}${detected ? ' (detected from the tensor names)' : ' (from --layout)'}`);
  return r;
}
