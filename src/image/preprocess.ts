import { WebvitError } from '../runtime/errors.js';
import { oneLine, preview } from '../model/json_preview.js';
import type { ViTConfig } from '../model/config.js';
import type { ChannelMode, Interpolation, PreprocessGeometry } from '../kernels/preprocess/geometry.js';

export type { ChannelMode, Interpolation, PreprocessGeometry };

/**
 * How an image becomes a model input: the weight file's optional `webvit.preprocess` metadata
 * (docs/weights-format.md). By default the same steps as torchvision's
 * `Compose([Resize(resize, interpolation), CenterCrop(crop), ToTensor(), Normalize(mean, std)])`
 * on a PIL image converted to RGB (or to L for a one-channel model). Two optional fields express
 * Hugging Face's image processors (ViTImageProcessor and relatives, src/model/convert/hf_preprocess.ts)
 * as well: a resize to an exact width × height (aspect not kept), `crop_offset` "floor" (HF's
 * centre_crop) and `rescale` (HF's float64 x·factor then float32, instead of ToTensor's float32 x/255).
 */

/** A resize to exactly width × height, the aspect ratio not kept (HF `size: {height, width}`). */
export interface ResizeTo {
  width: number;
  height: number;
}

/**
 * Where the centre crop starts, for a side of `size` pixels and a crop of `crop`:
 * - 'round' (torchvision's CenterCrop): round-half-even((size − crop)/2) when the side is at least
 *   the crop, −floor((crop − size)/2) (zero padding on the left/top) when it is smaller;
 * - 'floor' (Hugging Face's image_transforms.center_crop): floor((size − crop)/2) either way.
 * They differ when size − crop is odd (e.g. 7: torchvision 4, HF 3; −7: torchvision −3, HF −4).
 */
export type CropOffset = 'round' | 'floor';

export interface PreprocessConfig {
  /**
   * A number: the shorter side after resizing (torchvision `Resize(int)`, HF `shortest_edge`);
   * {width, height}: resize to exactly that (HF `size: {height, width}`); null: no resize, only the centre crop.
   */
  resize: number | ResizeTo | null;
  /** Centre crop size: the model's image_size. */
  crop: number;
  interpolation: Interpolation;
  /** Per channel, applied to the rescaled values: (x·rescale − mean) / std (x/255 by default). */
  mean: number[];
  std: number[];
  channels: ChannelMode;
  /** How the crop offset rounds; absent: 'round' (torchvision). */
  cropOffset?: CropOffset;
  /**
   * Absent: torchvision's ToTensor, float32(x) / 255 in float32. A number: Hugging Face's rescale,
   * float32(float64(x) · rescale) (1 when HF's do_rescale is false).
   */
  rescale?: number;
  /**
   * True when the weight file has no `webvit.preprocess` and these are the defaults: then an
   * image that is already crop × crop is not resized at all.
   */
  isDefault: boolean;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** The 1-channel default: ImageNet's statistics of PIL's L = 0.299 R + 0.587 G + 0.114 B. */
export const IMAGENET_GRAY_MEAN = [0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406];
export const IMAGENET_GRAY_STD = [0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225];

export const INTERPOLATIONS: Interpolation[] = ['bilinear', 'bicubic', 'nearest'];
const KNOWN = ['resize', 'crop', 'interpolation', 'mean', 'std', 'channels', 'crop_offset', 'rescale'];
const CROP_OFFSETS: CropOffset[] = ['round', 'floor'];
/** Largest side a resize may ask for (as for the shorter side). */
const MAX_SIDE = 65535;
const isSide = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_SIDE;

function channelModeOf(config: ViTConfig, source: string): ChannelMode {
  if (config.num_channels === 3) return 'rgb';
  if (config.num_channels === 1) return 'grayscale';
  throw new WebvitError('BAD_CONFIG', `${source}: images can only be preprocessed for 1- or 3-channel models; this one has num_channels ${config.num_channels}`);
}

/**
 * Defaults when the weight file says nothing: no resize if the image is already
 * image_size × image_size; otherwise the shorter side to round(image_size · 256/224), centre
 * crop image_size, bilinear; ImageNet mean/std; RGB for 3 channels, grayscale (L) for 1.
 */
/** A model's config given by the caller, or a BAD_ARGUMENT naming `where` (a null one failed as a TypeError). */
function configArgument(config: unknown, where: string): void {
  const c = config as Partial<ViTConfig> | null | undefined;
  if (typeof c != 'object' || c === null || !Number.isSafeInteger(c.image_size) || !Number.isSafeInteger(c.num_channels)) {
    throw new WebvitError('BAD_ARGUMENT', `${where}: config must be a model's config (weights.config: image_size, num_channels, ...), got ${c === null ? 'null' : typeof c}`);
  }
}

export function defaultPreprocess(config: ViTConfig): PreprocessConfig {
  configArgument(config, 'defaultPreprocess');
  const channels = config.num_channels === 1 ? 'grayscale' : 'rgb';
  return {
    resize: Math.round((config.image_size * 256) / 224),
    crop: config.image_size,
    interpolation: 'bilinear',
    mean: channels === 'rgb' ? [...IMAGENET_MEAN] : [...IMAGENET_GRAY_MEAN],
    std: channels === 'rgb' ? [...IMAGENET_STD] : [...IMAGENET_GRAY_STD],
    channels,
    isDefault: true,
  };
}

/**
 * Parses and checks `webvit.preprocess` (a JSON string, or undefined for the defaults) against
 * the model config. Every error names the field and the expected versus actual value.
 */
export function parsePreprocess(raw: string | undefined, config: ViTConfig, source = 'webvit.preprocess'): PreprocessConfig {
  configArgument(config, 'parsePreprocess');
  if (raw !== undefined && typeof raw != 'string') throw new WebvitError('BAD_ARGUMENT', `parsePreprocess: raw must be the metadata's JSON text (a string) or undefined, got ${raw === null ? 'null' : typeof raw}`);
  if (typeof source != 'string') throw new WebvitError('BAD_ARGUMENT', 'parsePreprocess: source must be a string naming the file in messages');
  if (raw === undefined) return defaultPreprocess(config);
  const bad = (msg: string): never => {
    throw new WebvitError('BAD_CONFIG', oneLine(`${source}: __metadata__["webvit.preprocess"] ${msg}`));
  };
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch (e) {
    bad(`is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad(`must be a JSON object, got ${preview(o)}`);
  const p = o as Record<string, unknown>;
  const unknown = Object.keys(p).filter((k) => !KNOWN.includes(k));
  if (unknown.length) bad(`has unknown field(s) ${unknown.join(', ')}; known fields: ${KNOWN.join(', ')}`);
  const expectChannels = channelModeOf(config, source);

  const channels = p.channels ?? expectChannels;
  if (channels !== 'rgb' && channels !== 'grayscale') bad(`field channels must be "rgb" or "grayscale", got ${preview(channels)}`);
  if (channels !== expectChannels) {
    bad(`field channels is ${preview(channels)} but the model has num_channels ${config.num_channels} (expected ${preview(expectChannels)})`);
  }
  const n = channels === 'rgb' ? 3 : 1;

  const crop = p.crop ?? config.image_size;
  if (crop !== config.image_size) bad(`field crop must equal the model's image_size ${config.image_size}, got ${preview(crop)}`);

  const rawResize = p.resize === undefined ? null : p.resize;
  let resize: number | ResizeTo | null = null;
  if (typeof rawResize === 'object' && rawResize !== null && !Array.isArray(rawResize)) {
    const r = rawResize as Record<string, unknown>;
    const keys = Object.keys(r).sort().join(',');
    if (keys !== 'height,width' || !isSide(r.width) || !isSide(r.height)) {
      bad(`field resize as an object must be {"width": W, "height": H} with integers in [1, ${MAX_SIDE}] (an exact size, aspect not kept), got ${preview(rawResize)}`);
    }
    resize = { width: r.width as number, height: r.height as number };
  } else if (rawResize !== null) {
    if (!isSide(rawResize)) {
      bad(`field resize must be null, an integer in [1, ${MAX_SIDE}] (the shorter side after resizing) or {"width": W, "height": H} (an exact size), got ${preview(rawResize)}`);
    }
    resize = rawResize as number;
  }

  const cropOffset = p.crop_offset;
  if (cropOffset !== undefined && !CROP_OFFSETS.includes(cropOffset as CropOffset)) {
    bad(`field crop_offset must be "round" (torchvision's CenterCrop) or "floor" (Hugging Face's center_crop), got ${preview(cropOffset)}`);
  }
  const rescale = p.rescale;
  if (rescale !== undefined && !(typeof rescale === 'number' && Number.isFinite(rescale) && rescale > 0)) {
    bad(`field rescale must be a positive finite number (Hugging Face's rescale_factor; 1 for no rescaling), got ${preview(rescale)}`);
  }

  const interpolation = p.interpolation ?? 'bilinear';
  if (!INTERPOLATIONS.includes(interpolation as Interpolation)) {
    bad(`field interpolation must be one of ${INTERPOLATIONS.map((s) => `"${s}"`).join(', ')}, got ${preview(interpolation)}`);
  }

  const vec = (name: 'mean' | 'std', dflt: number[]): number[] => {
    const v = p[name] ?? dflt;
    if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      bad(`field ${name} must be an array of ${n} finite number(s) (one per ${channels} channel), got ${preview(v)}`);
    }
    if (name === 'std' && !(v as number[]).every((x) => x > 0)) bad(`field std must be positive, got ${preview(v)}`);
    return [...(v as number[])];
  };
  const d = defaultPreprocess(config);
  return checkNormalisation({
    resize,
    crop: crop as number,
    interpolation: interpolation as Interpolation,
    mean: vec('mean', d.mean),
    std: vec('std', d.std),
    channels: channels as ChannelMode,
    // Only when given, so that a file without them reads back equal to what it was.
    ...(cropOffset !== undefined ? { cropOffset: cropOffset as CropOffset } : {}),
    ...(rescale !== undefined ? { rescale: rescale as number } : {}),
    isDefault: false,
  }, `${source}: __metadata__["webvit.preprocess"]`);
}

/**
 * Largest |value| a preprocessing may give a model. Normalised pixels lie within about ±10 (0–255
 * unnormalised); a std of 1e-20 or a rescale of 1e30 is a typo that a ViT's float32 cannot take
 * (finite.ts, inputLimit: about 1e16 for a trained ViT) — or, above 3.4e38, ±Inf in the input.
 * 1e6 (std ≥ about 1e-6 for rescaled pixels) leaves room for any real processor and is far below that.
 */
export const MAX_NORMALISED = 1e6;

/**
 * Smallest step a preprocessing may leave between adjacent 8-bit levels after normalisation. Real
 * processors step by rescale/std: about 1/255/0.2 ≈ 0.02 (ImageNet), 1/255/0.5 ≈ 0.008 (HF ViT),
 * 1/58 ≈ 0.017 (unrescaled 0–255 with std 58). A std of 1e30 or a rescale of 1e-30 — the mirror of
 * a std of 1e-20 — squeezes all 256 levels onto one value (in float32, exactly): every image is the
 * same image to the model, and it answers the same for all. 1e-5 (all levels within 2.6e-3 of each
 * other) is 800× below the smallest real step and still far above float32's resolution near ±10.
 */
export const MIN_LEVEL_STEP = 1e-5;

/** A value just past the bound with the digits that show it is past (1000000.6 as "1.00e+6" read as within). */
const shownBeyond = (v: number): string => (Math.abs(v) < 1e7 ? String(Math.fround(v)) : v.toExponential(2));

/**
 * `p`, refused (BAD_CONFIG naming the channel's mean, std and the rescale, as `names` calls them)
 * when an 8-bit level normalises beyond ±MAX_NORMALISED or to NaN/±Inf, or when adjacent levels
 * normalise less than MIN_LEVEL_STEP apart (normalisationTable: the values the preprocessing gives,
 * padding's zero level included). Checked wherever a preprocessing is read (weight file, Hugging
 * Face processor config) or run (ImagePreprocessor).
 */
export function checkNormalisation(p: PreprocessConfig, where: string, names = ['mean', 'std', 'rescale']): PreprocessConfig {
  const lut = normalisationTable(p);
  const i = lut.findIndex((v) => !(Math.abs(v) <= MAX_NORMALISED));
  const fields = (c: number) => `${names[1]}[${c}] ${p.std[c]} (${names[0]}[${c}] ${p.mean[c]}, ${names[2]} ${p.rescale ?? '1/255'})`;
  if (i >= 0) {
    const c = i >> 8;
    throw new WebvitError(
      'BAD_CONFIG',
      `${where}: ${fields(c)} normalises 8-bit level ${i & 255} to ${shownBeyond(lut[i])}, beyond ±${MAX_NORMALISED} (pixels normalise to about ±10; float32 overflows inside the model): fix ${names.join('/')}`,
    );
  }
  for (let c = 0; c < p.mean.length; c++) {
    let step = Infinity;
    for (let v = 0; v < 255; v++) step = Math.min(step, Math.abs(lut[c * 256 + v + 1] - lut[c * 256 + v]));
    if (!(step >= MIN_LEVEL_STEP)) {
      throw new WebvitError(
        'BAD_CONFIG',
        `${where}: ${fields(c)} leaves adjacent 8-bit levels ${step.toExponential(2)} apart, below ${MIN_LEVEL_STEP.toExponential(0)} (real processors: about 0.02, i.e. ${names[2]}/${names[1]} = 1/255/0.2): every image would look the same to the model; fix ${names[1]}/${names[2]}`,
      );
    }
  }
  return p;
}

/** Python's round(): halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Where an image of srcW × srcH goes.
 * - Shorter-side resize (torchvision 0.14's Resize(int), HF's `shortest_edge`, the same formula):
 *   the shorter side becomes `resize` and the longer `int(resize · long / short)`; an image whose
 *   shorter side is already `resize` is not resampled.
 * - Exact resize ({width, height}, HF's ViTImageProcessor): PIL's resize((width, height)).
 * - The crop: centred as `cropOffset` says (CropOffset); where the image is smaller than the
 *   crop the window starts at a negative offset and reads zeros (both libraries pad with zeros).
 */
export function preprocessGeometry(p: PreprocessConfig, srcW: number, srcH: number): PreprocessGeometry {
  if (typeof p?.crop != 'number' || !(Number.isInteger(srcW) && Number.isInteger(srcH) && srcW > 0 && srcH > 0)) throw new WebvitError('BAD_ARGUMENT', `preprocessGeometry: expected a PreprocessConfig and an image size in whole pixels, got ${String(srcW)}×${String(srcH)}`);
  let resizeW = srcW;
  let resizeH = srcH;
  const skip = p.resize === null || (p.isDefault && srcW === p.crop && srcH === p.crop);
  if (!skip && typeof p.resize === 'object' && p.resize !== null) {
    [resizeW, resizeH] = [p.resize.width, p.resize.height];
  } else if (!skip) {
    const size = p.resize as number;
    const [short, long] = srcW <= srcH ? [srcW, srcH] : [srcH, srcW];
    if (short !== size) {
      const newLong = Math.trunc((size * long) / short);
      [resizeW, resizeH] = srcW <= srcH ? [size, newLong] : [newLong, size];
    }
  }
  const offset =
    p.cropOffset === 'floor'
      ? (size: number) => Math.floor((size - p.crop) / 2)
      : (size: number) => (p.crop > size ? -Math.floor((p.crop - size) / 2) : roundHalfEven((size - p.crop) / 2));
  return { srcW, srcH, resizeW, resizeH, left: offset(resizeW), top: offset(resizeH), crop: p.crop };
}

/**
 * Per channel, the normalised float32 value of each 8-bit level, computed the way the library
 * does: torchvision's ToTensor x/255 in float32, or (with `rescale`) Hugging Face's rescale, the
 * float64 product x·rescale cast to float32; then (v − mean)/std in float32 (mean and std as
 * float32: torchvision's Normalize and HF's normalize alike). Each JS double operation on float32
 * operands, rounded to float32, is the correctly rounded float32 operation, and the float64
 * product is numpy's, so these are bit for bit the libraries' values. [channels × 256].
 */
export function normalisationTable(p: PreprocessConfig): Float32Array {
  const f = Math.fround;
  const n = p.mean.length;
  const lut = new Float32Array(n * 256);
  const scaled = p.rescale === undefined ? (v: number) => f(v / 255) : (v: number) => f(v * p.rescale!);
  for (let c = 0; c < n; c++) {
    const mean = f(p.mean[c]);
    const std = f(p.std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(scaled(v) - mean) / std);
  }
  return lut;
}
