import type { Interpolation } from './geometry.js';
import { WebvitError } from '../../errors.js';

/**
 * Pillow's resampling coefficients (Pillow 9.x `src/libImaging/Resample.c`, which torchvision's
 * `Resize` uses on PIL images), computed on the CPU and uploaded as tables for the GPU passes.
 *
 * Pillow resizes 8-bit images in two separable passes, horizontal then vertical, each an
 * antialiased convolution: the filter (triangle for bilinear, Keys cubic with a = −0.5 for
 * bicubic) is stretched by the downscale factor, its weights normalised to sum 1, then turned into
 * 22-bit fixed point; each output is (Σ pixel·weight + 2²¹) >> 22 clipped to [0, 255], so the
 * intermediate image is 8-bit. Nearest is not a convolution in Pillow (an affine scale that picks
 * pixel floor(in0 + (x + ½)·in/out), with the position summed incrementally); it is expressed here
 * as one tap of weight 1.0, which gives the same pixels through the same passes.
 */
export const PRECISION_BITS = 32 - 8 - 2;

/** One pass's table: output i reads input pixels start[i] … start[i] + count[i] − 1 with weights[i·ksize + j]. */
export interface ResampleTable {
  inSize: number;
  outSize: number;
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point weights (value · 2²²), ksize per output, zero beyond count. */
  weights: Int32Array;
  /** The same weights as float64, before fixed point (for the float reference). */
  weights64: Float64Array;
}

const FILTERS: Record<Exclude<Interpolation, 'nearest'>, { support: number; f: (x: number) => number }> = {
  bilinear: {
    support: 1,
    f: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for resizing inSize → outSize (box = whole image). */
export function resampleTable(inSize: number, outSize: number, interpolation: Interpolation): ResampleTable {
  if (!(Number.isInteger(inSize) && inSize > 0 && Number.isInteger(outSize) && outSize > 0)) {
    throw new WebvitError('BAD_ARGUMENT', `resample: sizes must be positive integers, got ${inSize} → ${outSize}`);
  }
  if (interpolation === 'nearest') return nearestTable(inSize, outSize);
  const filter = FILTERS[interpolation];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights64 = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.f((x + xmin - center + 0.5) * ss);
      weights64[xx * ksize + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) weights64[xx * ksize + x] /= ww;
    start[xx] = xmin;
    count[xx] = xmax;
  }
  const one = 1 << PRECISION_BITS;
  const weights = Int32Array.from(weights64, (w) => (w < 0 ? Math.trunc(-0.5 + w * one) : Math.trunc(0.5 + w * one)));
  return { inSize, outSize, ksize, start, count, weights, weights64 };
}

/** Pillow's nearest resize (ImagingScaleAffine): xo = in/out · ½, then xo += in/out per pixel, source = (int) xo. */
function nearestTable(inSize: number, outSize: number): ResampleTable {
  const a = inSize / outSize;
  const start = new Int32Array(outSize);
  let xo = a * 0.5;
  for (let x = 0; x < outSize; x++) {
    start[x] = Math.min(inSize - 1, Math.max(0, Math.trunc(xo)));
    xo += a;
  }
  return {
    inSize,
    outSize,
    ksize: 1,
    start,
    count: new Int32Array(outSize).fill(1),
    weights: new Int32Array(outSize).fill(1 << PRECISION_BITS),
    weights64: new Float64Array(outSize).fill(1),
  };
}

/** Pillow's clip8 of a fixed-point sum that already includes the rounding half (2²¹). */
export function clip8(sum: number): number {
  if (sum >= 255 * 2 ** PRECISION_BITS) return 255;
  if (sum <= 0) return 0;
  return Math.floor(sum / 2 ** PRECISION_BITS);
}

/** PIL's RGB → L: (R·19595 + G·38470 + B·7471 + 2¹⁵) >> 16, i.e. ITU-R 601-2 luma rounded. */
export function luma8(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}
