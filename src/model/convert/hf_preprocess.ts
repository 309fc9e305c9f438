import { clip, WebvitError } from '../../errors.js';
import { oneLine, preview } from '../json_preview.js';
import { checkNormalisation, parsePreprocess, type Interpolation, type PreprocessConfig } from '../../image/preprocess.js';
import { describePreprocess, preprocessMetadata } from '../../image/preprocess_text.js';
import type { ViTConfig } from '../config.js';

/**
 * A Hugging Face `preprocessor_config.json` as webvit's `webvit.preprocess` (docs/checkpoints.md#preprocessing),
 * so that a converted model sees the pixels HF's own image processor would give it.
 *
 * What is reproduced is the PIL-based ("slow") processor of transformers, step by step
 * (image_transforms.py): the image as RGB uint8, `PIL.Image.resize((width, height), resample)`,
 * `center_crop` (offset floor((size − crop)/2), zero padding), `rescale` (float64 x·factor cast to
 * float32), `normalize` ((x − mean)/std in float32). webvit's PreprocessConfig expresses each:
 * an exact resize, `cropOffset: 'floor'` and `rescale`. A setting webvit cannot reproduce is
 * refused, naming the field and its value; nothing is approximated.
 *
 * Each processor class has its own defaults and reads its own fields (a field a class does not
 * read is ignored by HF, and here too, and said so). Classes:
 * - ViTImageProcessor: resize to size {height, width} (aspect not kept), no crop;
 * - DeiTImageProcessor, BeitImageProcessor: resize to {height, width}, then centre crop crop_size;
 * - CLIPImageProcessor: resize the shortest edge (or to {height, width}), then centre crop;
 * - SiglipImageProcessor: resize to {height, width}, no crop (bicubic, mean and std 0.5);
 * - ConvNextImageProcessor: shortest_edge < 384: the shorter side to int(shortest_edge / crop_pct),
 *   then centre crop shortest_edge; ≥ 384: resize to shortest_edge × shortest_edge.
 * `…FeatureExtractor` (older name) and `…ImageProcessorFast` map to the same steps; HF's fast
 * variants resize with torchvision on tensors, which can differ from PIL by an 8-bit level.
 */

type Family = 'vit' | 'deit' | 'beit' | 'clip' | 'convnext' | 'bit' | 'siglip';

/** image_utils.py's constants. */
const IMAGENET_STANDARD = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const IMAGENET_DEFAULT = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const OPENAI_CLIP = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

type SizeDict = { height: number; width: number } | { shortest_edge: number };

interface ProcessorSpec {
  family: Family;
  /** Fields the class reads (besides the common ones). */
  extra: string[];
  size: SizeDict;
  /** How an integer `size` is read (get_size_dict's default_to_square). */
  intSizeSquare: boolean;
  resample: number;
  /** Default of do_center_crop; undefined: the class has no centre crop step. */
  centerCrop?: boolean;
  norm: { mean: number[]; std: number[] };
}

const COMMON = ['do_resize', 'size', 'resample', 'do_rescale', 'rescale_factor', 'do_normalize', 'image_mean', 'image_std'];
/** Fields that name things rather than change pixels. */
const META = ['image_processor_type', 'feature_extractor_type', 'processor_class', 'auto_map', '_processor_class'];

const SPECS: Record<string, ProcessorSpec> = {
  ViTImageProcessor: { family: 'vit', extra: ['do_convert_rgb'], size: { height: 224, width: 224 }, intSizeSquare: true, resample: 2, norm: IMAGENET_STANDARD },
  DeiTImageProcessor: { family: 'deit', extra: ['do_center_crop', 'crop_size'], size: { height: 256, width: 256 }, intSizeSquare: true, resample: 3, centerCrop: true, norm: IMAGENET_STANDARD },
  BeitImageProcessor: {
    family: 'beit',
    extra: ['do_center_crop', 'crop_size', 'do_reduce_labels', 'reduce_labels'],
    size: { height: 256, width: 256 },
    intSizeSquare: true,
    resample: 3,
    centerCrop: true,
    norm: IMAGENET_STANDARD,
  },
  CLIPImageProcessor: { family: 'clip', extra: ['do_center_crop', 'crop_size', 'do_convert_rgb'], size: { shortest_edge: 224 }, intSizeSquare: false, resample: 3, centerCrop: true, norm: OPENAI_CLIP },
  // DINOv2's processor: CLIP's steps (shorter side, centre crop); its defaults are OpenAI CLIP's
  // mean/std, which DINOv2's files override with ImageNet's.
  BitImageProcessor: { family: 'bit', extra: ['do_center_crop', 'crop_size', 'do_convert_rgb'], size: { shortest_edge: 224 }, intSizeSquare: false, resample: 3, centerCrop: true, norm: OPENAI_CLIP },
  // SigLIP's processor: ViT's steps (resize to {height, width}, no crop), bicubic, mean and std 0.5.
  SiglipImageProcessor: { family: 'siglip', extra: ['do_convert_rgb'], size: { height: 224, width: 224 }, intSizeSquare: false, resample: 3, norm: IMAGENET_STANDARD },
  ConvNextImageProcessor: { family: 'convnext', extra: ['crop_pct'], size: { shortest_edge: 384 }, intSizeSquare: false, resample: 3, norm: IMAGENET_STANDARD },
};

/** PIL's resampling codes (PILImageResampling). */
const RESAMPLE: Record<number, Interpolation | string> = { 0: 'nearest', 1: 'LANCZOS', 2: 'bilinear', 3: 'bicubic', 4: 'BOX', 5: 'HAMMING' };

export interface HfPreprocess {
  preprocess: PreprocessConfig;
  /** What was read and how, one line each, for the converter's output. */
  notes: string[];
}

/** Maps `pc` (preprocessor_config.json, parsed) for a model of this config; `source` names the file in messages. */
export function preprocessFromHf(pc: Record<string, unknown>, config: Pick<ViTConfig, 'image_size' | 'num_channels'>, source: string): HfPreprocess {
  const bad = (msg: string): never => {
    throw new WebvitError(
      'BAD_CONFIG',
      oneLine(`${source}: ${msg}; webvit reproduces Hugging Face's PIL image processors exactly or not at all: edit the file, or convert with --preprocessor-config none and set webvit.preprocess later (tools/set_preprocess.py)`),
    );
  };
  const notes: string[] = [];
  const S = config.image_size;

  // The class: image_processor_type, else the older feature_extractor_type, else ViT's (model_type "vit").
  const typeField = pc.image_processor_type !== undefined ? 'image_processor_type' : pc.feature_extractor_type !== undefined ? 'feature_extractor_type' : undefined;
  const rawType = typeField ? pc[typeField] : 'ViTImageProcessor';
  if (typeof rawType !== 'string') return bad(`${typeField} must be a class name, got ${preview(rawType)}`);
  const fast = rawType.endsWith('ImageProcessorFast');
  const className = rawType.replace(/FeatureExtractor$/, 'ImageProcessor').replace(/ImageProcessorFast$/, 'ImageProcessor');
  const spec = SPECS[className];
  if (!spec) return bad(`${typeField} is ${preview(rawType)}; webvit maps ${Object.keys(SPECS).join(', ')} (and their FeatureExtractor and Fast names)`);
  if (!typeField) notes.push('no image_processor_type: read as ViTImageProcessor (the processor of model_type "vit")');
  if (fast) notes.push(`${rawType}: reproduced as ${className}, the PIL-based processor; HF's fast variant resizes with torchvision on tensors and can differ from it by an 8-bit level at some pixels`);

  const known = new Set([...COMMON, ...spec.extra, ...META]);
  const ignored = Object.keys(pc).filter((k) => !known.has(k));
  if (ignored.length) notes.push(`ignored (${className} does not read them either): ${clip(ignored.slice(0, 20).map((k) => clip(k, 60)).join(', ') + (ignored.length > 20 ? `, … (${ignored.length} in all)` : ''), 400)}`);

  // HF builds the processor with the file's fields as keyword arguments, so null is passed as
  // None: a size, crop_size, crop_pct, image_mean or image_std of null takes the class default
  // (its __init__ says `x if x is not None else default`), but a do_* flag of null stays None, which
  // preprocess() treats as false, and a null resample or rescale_factor makes it raise.
  const field = <T>(name: string, dflt: T): unknown => (pc[name] === undefined || pc[name] === null ? dflt : pc[name]);
  const flag = (name: string, dflt: boolean): boolean => {
    const v = pc[name] === undefined ? dflt : pc[name] === null ? false : pc[name];
    if (typeof v !== 'boolean') bad(`${name} must be true or false, got ${preview(v)}`);
    return v as boolean;
  };
  const side = (name: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) bad(`${name} must be an integer in [1, 65535], got ${preview(v)}`);
    return v as number;
  };
  /** get_size_dict: an int (square or shortest edge, per class), [height, width], or a dict. */
  const sizeDict = (name: string, v: unknown, intSquare: boolean): SizeDict => {
    if (typeof v === 'number') return intSquare ? { height: side(name, v), width: side(name, v) } : { shortest_edge: side(name, v) };
    if (Array.isArray(v) && v.length === 2) return { height: side(`${name}[0]`, v[0]), width: side(`${name}[1]`, v[1]) };
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort().join(',');
      if (keys === 'height,width') return { height: side(`${name}.height`, o.height), width: side(`${name}.width`, o.width) };
      if (keys === 'shortest_edge') return { shortest_edge: side(`${name}.shortest_edge`, o.shortest_edge) };
      if (keys === 'longest_edge,shortest_edge') return bad(`${name} ${preview(v)}: a longest_edge bound (max_size) is not supported`);
    }
    return bad(`${name} must be an integer, [height, width], {"height": H, "width": W} or {"shortest_edge": N}, got ${preview(v)}`);
  };
  const fmt = (s: SizeDict) => ('shortest_edge' in s ? `{shortest_edge: ${s.shortest_edge}}` : `{height: ${s.height}, width: ${s.width}}`);

  // Pixel values: resample (used only when resizing), rescale, normalise.
  const doResize = flag('do_resize', true);
  const code = pc.resample === undefined || !doResize ? spec.resample : pc.resample;
  const interpolation = typeof code === 'number' && Object.hasOwn(RESAMPLE, code) ? RESAMPLE[code] : undefined;
  if (interpolation === undefined) return bad(`resample must be a PIL resampling code (0 nearest, 2 bilinear, 3 bicubic), got ${preview(code)}`);
  if (interpolation !== 'nearest' && interpolation !== 'bilinear' && interpolation !== 'bicubic') {
    return bad(`resample is ${code} (PIL ${interpolation}); webvit's kernels resample as PIL's NEAREST (0), BILINEAR (2) and BICUBIC (3) only`);
  }
  const doRescale = flag('do_rescale', true);
  const factor = pc.rescale_factor === undefined ? 1 / 255 : pc.rescale_factor;
  if (doRescale && !(typeof factor === 'number' && Number.isFinite(factor) && factor > 0)) bad(`rescale_factor must be a positive number, got ${preview(factor)}`);
  const C = config.num_channels;
  const vec = (name: string, dflt: number[]): number[] => {
    const v = field(name, dflt);
    const arr = typeof v === 'number' ? Array(C).fill(v) : v;
    if (!Array.isArray(arr) || arr.length !== C || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return bad(`${name} must be a number or ${C} number(s) (one per channel of the model's num_channels ${C}), got ${preview(v)}`);
    }
    if (name === 'image_std' && !arr.every((x) => x > 0)) bad(`image_std must be positive, got ${preview(v)}`);
    return [...arr];
  };
  const doNormalize = flag('do_normalize', true);
  const defaultNorm = C === 3 ? spec.norm : { mean: [], std: [] };
  const mean = doNormalize ? vec('image_mean', defaultNorm.mean) : Array(C).fill(0);
  const std = doNormalize ? vec('image_std', defaultNorm.std) : Array(C).fill(1);

  // Geometry: the resize, then the centre crop, must end at the model's image_size.
  const size = sizeDict('size', field('size', spec.size), spec.intSizeSquare);
  const doCrop = spec.centerCrop === undefined ? false : flag('do_center_crop', spec.centerCrop);
  const cropSize = spec.centerCrop === undefined ? undefined : sizeDict('crop_size', field('crop_size', { height: 224, width: 224 }), true);
  let resize: PreprocessConfig['resize'] = null;
  let hfCrop: number | undefined; // HF's crop side, when HF crops
  if (spec.family === 'convnext') {
    if (doResize) {
      if (!('shortest_edge' in size)) return bad(`size is ${fmt(size)}; ConvNextImageProcessor needs {shortest_edge: N} (as HF does)`);
      const se = size.shortest_edge;
      if (se < 384) {
        const pct = field('crop_pct', 224 / 256);
        if (!(typeof pct === 'number' && Number.isFinite(pct) && pct > 0)) return bad(`crop_pct must be a positive number, got ${preview(pct)}`);
        const shorter = Math.trunc(se / pct); // Python's int(shortest_edge / crop_pct)
        if (!(shorter >= 1 && shorter <= 65535)) return bad(`crop_pct ${pct} makes the shorter side ${shorter}, outside [1, 65535]`);
        resize = shorter;
        hfCrop = se;
      } else {
        resize = { width: se, height: se };
        if (se !== S) return bad(`size is {shortest_edge: ${se}} (≥ 384: resized to ${se}×${se}, no crop) but the model's image_size is ${S}`);
      }
    }
  } else if (doResize) {
    if ('shortest_edge' in size) {
      if (spec.family !== 'clip' && spec.family !== 'bit') return bad(`size is ${fmt(size)}; ${className} resizes to {height, width} only (HF raises on shortest_edge too)`);
      resize = size.shortest_edge;
    } else {
      resize = { width: size.width, height: size.height };
    }
  }
  if (doCrop) {
    const c = cropSize!;
    if (!('height' in c) || c.height !== c.width) return bad(`crop_size is ${fmt(c)}; webvit's models take a square crop`);
    hfCrop = c.height;
  }
  if (hfCrop !== undefined && hfCrop !== S) {
    return bad(`${spec.family === 'convnext' ? 'size.shortest_edge' : 'crop_size'} is ${hfCrop} but the model's image_size is ${S}: the processor's images would not fit the model`);
  }
  if (hfCrop === undefined) {
    // No crop: what the resize gives is what the model gets.
    if (resize === null) {
      notes.push(`do_resize is false and there is no centre crop: HF passes images through as they are (they must be ${S}×${S}); webvit centre-crops or pads other sizes to ${S}×${S}`);
    } else if (typeof resize === 'number') {
      return bad(`size is ${fmt(size)} without a centre crop (do_center_crop false): images keep their aspect ratio and would not be ${S}×${S}`);
    } else if (resize.width !== S || resize.height !== S) {
      return bad(`size is ${fmt(size)} without a centre crop but the model's image_size is ${S}: HF would give it ${resize.height}×${resize.width} images`);
    }
  }
  const convertRgb = field('do_convert_rgb', null);
  if (C === 3 && convertRgb !== true) {
    notes.push(`do_convert_rgb is ${convertRgb === null ? 'not set' : preview(convertRgb)}: HF expects RGB images then; webvit converts every image to RGB as PIL's convert("RGB") does`);
  }

  const preprocess: PreprocessConfig = {
    resize,
    crop: S,
    interpolation: interpolation as Interpolation,
    mean,
    std,
    channels: C === 1 ? 'grayscale' : 'rgb',
    cropOffset: 'floor',
    rescale: doRescale ? (factor as number) : 1,
    isDefault: false,
  };
  // An image_std of 1e-20 or a rescale_factor of 1e30 normalises pixels to ~1e19 or ±Inf, which
  // overflow float32 inside the model: refused here in HF's names (the loader refuses it too).
  try {
    checkNormalisation(preprocess, source, ['image_mean', 'image_std', 'rescale_factor']);
  } catch (e) {
    bad((e as Error).message.slice(source.length + 2));
  }
  // The stored form must read back as the same config (and passes the loader's checks).
  const checked = parsePreprocess(preprocessMetadata(preprocess), config as ViTConfig, source);
  notes.unshift(`preprocessing from ${source} (${className}): ${describePreprocess(checked)}`);
  return { preprocess: checked, notes };
}

/**
 * The `webvit.preprocess` metadata of a converted Hugging Face model (every HF family shares this):
 * its preprocessor_config.json reproduced, when the processor prepares images of the size the model
 * now runs at (`prepared`); otherwise, or without one, the metadata is empty and the notes say why
 * (`without`: what the defaults are not, for that family).
 */
export function hfPreprocessMetadata(
  ckpt: { preprocessor?: Record<string, unknown>; preprocessorSource?: string },
  config: ViTConfig,
  prepared: number,
  notes: string[],
  without: string,
): Record<string, string> {
  if (!ckpt.preprocessor) {
    notes.push(`no preprocessor_config.json read (none beside the weights, or --preprocessor-config none): webvit's default preprocessing (docs/weights-format.md#image-preprocessing-webvitpreprocess), ${without}`);
    return {};
  }
  const pSrc = ckpt.preprocessorSource ?? 'preprocessor_config.json';
  if (config.image_size !== prepared) {
    notes.push(`${pSrc} not used: it prepares ${prepared}×${prepared} images and the model now runs at ${config.image_size} (--image-size); set webvit.preprocess for it with tools/set_preprocess.py`);
    return {};
  }
  const hp = preprocessFromHf(ckpt.preprocessor, config, pSrc);
  notes.push(...hp.notes);
  return { 'webvit.preprocess': preprocessMetadata(hp.preprocess) };
}

/**
 * The square a processor's `key` (crop_size, or size for the processors without a crop) states,
 * as N, {height, width} or [height, width], or undefined when it states none; one that is not a
 * positive whole square is refused, naming it (converters take the size a model runs at from it).
 */
export function processorSquare(pc: Record<string, unknown>, key: 'crop_size' | 'size', pSrc: string, src: string): number | undefined {
  const c = pc[key];
  if (c === undefined || c === null) return undefined;
  const [h, w] = typeof c === 'number' ? [c, c] : Array.isArray(c) ? [c[0], c[1]] : typeof c === 'object' ? [(c as { height?: unknown }).height, (c as { width?: unknown }).width] : [undefined, undefined];
  if (!(Number.isInteger(h) && h === w && (h as number) >= 1 && (h as number) <= 16384)) {
    throw new WebvitError('BAD_WEIGHTS', oneLine(`${src}: ${pSrc} ${key} must be a square of whole pixels from 1 to 16384 (N, {"height": N, "width": N} or [N, N]), got ${preview(c)}`));
  }
  return h as number;
}
