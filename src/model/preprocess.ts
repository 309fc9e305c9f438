import { WebvitError } from '../runtime/errors.js';
import { oneLine, preview } from './json_preview.js';
import type { ViTConfig } from './config.js';
import type { ChannelMode, Interpolation, PreprocessGeometry } from '../kernels/preprocess/geometry.js';

export type { ChannelMode, Interpolation, PreprocessGeometry };

/**
 * How an image becomes a model input: the weight file's optional `webvit.preprocess` metadata
 * (docs/weights-format.md), the same steps as torchvision's
 * `Compose([Resize(resize, interpolation), CenterCrop(crop), ToTensor(), Normalize(mean, std)])`
 * on a PIL image converted to RGB (or to L for a one-channel model).
 */

export interface PreprocessConfig {
  /** Shorter side after resizing (torchvision `Resize(int)`); null: no resize, only the centre crop. */
  resize: number | null;
  /** Centre crop size: the model's image_size. */
  crop: number;
  interpolation: Interpolation;
  /** Per channel, applied to values in [0, 1]: (x/255 − mean) / std. */
  mean: number[];
  std: number[];
  channels: ChannelMode;
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

const INTERPOLATIONS: Interpolation[] = ['bilinear', 'bicubic', 'nearest'];
const KNOWN = ['resize', 'crop', 'interpolation', 'mean', 'std', 'channels'];

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
export function defaultPreprocess(config: ViTConfig): PreprocessConfig {
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
export function parsePreprocess(raw: string | undefined, config: ViTConfig, source: string): PreprocessConfig {
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

  const resize = p.resize === undefined ? null : p.resize;
  if (resize !== null && (typeof resize !== 'number' || !Number.isInteger(resize) || resize < 1 || resize > 65535)) {
    bad(`field resize must be null or an integer in [1, 65535] (the shorter side after resizing), got ${preview(resize)}`);
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
  return {
    resize: resize as number | null,
    crop: crop as number,
    interpolation: interpolation as Interpolation,
    mean: vec('mean', d.mean),
    std: vec('std', d.std),
    channels: channels as ChannelMode,
    isDefault: false,
  };
}

/** The JSON to store as `webvit.preprocess` (what the tools write). */
export function preprocessMetadata(p: PreprocessConfig): string {
  const { resize, crop, interpolation, mean, std, channels } = p;
  return JSON.stringify({ resize, crop, interpolation, mean, std, channels });
}

/** Python's round(): halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision 0.14's Resize(int) and CenterCrop(int) on a PIL image of srcW × srcH:
 * the shorter side becomes `resize` and the longer `int(resize · long / short)`; the crop is
 * centred with top = round((h − crop)/2) (Python rounding), after zero padding of
 * ((crop − w)//2, (crop − h)//2) on the left/top when the image is smaller than the crop.
 */
export function preprocessGeometry(p: PreprocessConfig, srcW: number, srcH: number): PreprocessGeometry {
  let resizeW = srcW;
  let resizeH = srcH;
  const skip = p.resize === null || (p.isDefault && srcW === p.crop && srcH === p.crop);
  if (!skip) {
    const size = p.resize!;
    const [short, long] = srcW <= srcH ? [srcW, srcH] : [srcH, srcW];
    if (short !== size) {
      const newLong = Math.trunc((size * long) / short);
      [resizeW, resizeH] = srcW <= srcH ? [size, newLong] : [newLong, size];
    }
  }
  const offset = (size: number) => (p.crop > size ? -Math.floor((p.crop - size) / 2) : roundHalfEven((size - p.crop) / 2));
  return { srcW, srcH, resizeW, resizeH, left: offset(resizeW), top: offset(resizeH), crop: p.crop };
}

/**
 * Per channel, the normalised float32 value of each 8-bit level, computed the way torchvision
 * does in float32: ToTensor's x/255, then Normalize's (v − mean)/std (mean and std as float32).
 * Each JS double operation on float32 operands, rounded to float32, is the correctly rounded
 * float32 operation, so these are bit for bit torchvision's values. [channels × 256].
 */
export function normalisationTable(p: PreprocessConfig): Float32Array {
  const f = Math.fround;
  const n = p.mean.length;
  const lut = new Float32Array(n * 256);
  for (let c = 0; c < n; c++) {
    const mean = f(p.mean[c]);
    const std = f(p.std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - mean) / std);
  }
  return lut;
}
