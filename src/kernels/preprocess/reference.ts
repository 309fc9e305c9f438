import type { ChannelMode, Interpolation, PreprocessGeometry } from './geometry.js';
import { clip8, luma8, PRECISION_BITS, resampleTable } from './resample.js';
import { WebvitError } from '../../errors.js';

/**
 * CPU reference of the preprocessing kernels, written the plain way (whole-image passes, then the
 * crop): RGBA8 → RGB or PIL's L, Pillow's two 8-bit resampling passes (its fixed-point
 * arithmetic, which is what makes it Pillow's), the centre crop window the geometry gives (zero
 * outside the resized image; its offsets carry torchvision's or Hugging Face's rounding), and the
 * normalisation (x·rescale − mean)/std in float64, x/255 without `rescale` (torchvision's
 * ToTensor). Also returns the 8-bit cropped image.
 */
export function preprocessRef(
  rgba: Uint8Array,
  g: PreprocessGeometry,
  interpolation: Interpolation,
  channels: ChannelMode,
  mean: number[],
  std: number[],
  /** Hugging Face's rescale_factor (1 for none); undefined: x/255. */
  rescale?: number,
): { values: Float64Array; levels: Uint8Array } {
  const C = channels === 'grayscale' ? 1 : 3;
  if (rgba.length !== 4 * g.srcW * g.srcH) throw new WebvitError('BAD_ARGUMENT', `preprocessRef: ${rgba.length} bytes for ${g.srcW}×${g.srcH} RGBA`);
  // 1. Channel conversion: planes [C, srcH, srcW].
  const n = g.srcW * g.srcH;
  let img = new Uint8Array(C * n);
  for (let i = 0; i < n; i++) {
    const [r, gg, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (C === 1) img[i] = luma8(r, gg, b);
    else [img[i], img[n + i], img[2 * n + i]] = [r, gg, b];
  }
  const half = 2 ** (PRECISION_BITS - 1);
  // 2. Horizontal pass: [C, srcH, resizeW].
  const th = resampleTable(g.srcW, g.resizeW, interpolation);
  const h = new Uint8Array(C * g.srcH * g.resizeW);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < g.srcH; y++) {
      for (let x = 0; x < g.resizeW; x++) {
        let s = half;
        for (let k = 0; k < th.count[x]; k++) s += img[c * n + y * g.srcW + th.start[x] + k] * th.weights[x * th.ksize + k];
        h[(c * g.srcH + y) * g.resizeW + x] = clip8(s);
      }
    }
  }
  img = h;
  // 3. Vertical pass: [C, resizeH, resizeW].
  const tv = resampleTable(g.srcH, g.resizeH, interpolation);
  const v = new Uint8Array(C * g.resizeH * g.resizeW);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < g.resizeH; y++) {
      for (let x = 0; x < g.resizeW; x++) {
        let s = half;
        for (let k = 0; k < tv.count[y]; k++) s += img[(c * g.srcH + tv.start[y] + k) * g.resizeW + x] * tv.weights[y * tv.ksize + k];
        v[(c * g.resizeH + y) * g.resizeW + x] = clip8(s);
      }
    }
  }
  // 4. Centre crop (zero outside the resized image) and normalisation.
  const S = g.crop;
  const levels = new Uint8Array(C * S * S);
  const values = new Float64Array(C * S * S);
  for (let c = 0; c < C; c++) {
    for (let oy = 0; oy < S; oy++) {
      for (let ox = 0; ox < S; ox++) {
        const [x, y] = [g.left + ox, g.top + oy];
        const inside = x >= 0 && x < g.resizeW && y >= 0 && y < g.resizeH;
        const level = inside ? v[(c * g.resizeH + y) * g.resizeW + x] : 0;
        const o = (c * S + oy) * S + ox;
        levels[o] = level;
        values[o] = ((rescale === undefined ? level / 255 : level * rescale) - mean[c]) / std[c];
      }
    }
  }
  return { values, levels };
}
