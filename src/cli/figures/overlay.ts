import { PNG } from 'pngjs';
import type { PreprocessConfig } from '../../image/preprocess.js';
import { colormap, type ColormapName } from './colormap.js';

export interface OverlayInput {
  /** One preprocessed image as the model saw it: C × S × S normalised float32 (NCHW slice). */
  pixels: Float32Array;
  channels: number;
  size: number;
  preprocess: PreprocessConfig;
  /** [G·G] the attention map (any scale; drawn divided by its max). */
  map: Float32Array;
  grid: number;
}

/** Opacity of the colour map over the image in the right panel. */
const ALPHA = 0.55;
/** Panels are at least this many pixels a side (a 28-pixel Fashion-MNIST image is drawn 8× larger). */
const MIN_SIDE = 224;
const GAP = 4;

/**
 * A PNG of two panels: left, the image as the model saw it (its preprocessed input with the
 * normalisation undone: resized, cropped, greyscale if the model is), right, the same image with
 * the attention map over it. The map, G×G values at patch centres, is upsampled bilinearly
 * (edges clamped, as OpenCV's and PIL's resize do), divided by its max and coloured with `cmap`,
 * then blended at opacity ALPHA. Pixels of the image are upscaled by an integer factor, nearest
 * neighbour, so each input pixel stays a visible square.
 */
export function overlayPng(o: OverlayInput, cmap: ColormapName = 'inferno'): Uint8Array {
  const { size: S, grid: G, channels: C } = o;
  const f = Math.max(1, Math.ceil(MIN_SIDE / S));
  const side = S * f;
  const width = 2 * side + GAP;
  const png = new PNG({ width, height: side });
  png.data.fill(255);
  const lut = colormap(cmap);
  // The normalisation undone: level = (x·std + mean) / rescale (rescale 1/255 by default).
  const rescale = o.preprocess.rescale ?? 1 / 255;
  const level = (c: number, y: number, x: number) => {
    const v = o.pixels[(c * S + y) * S + x] * o.preprocess.std[c] + o.preprocess.mean[c];
    return Math.min(255, Math.max(0, Math.round(v / rescale)));
  };
  let max = 0;
  for (const v of o.map) if (v > max) max = v;
  const scale = max > 0 ? 1 / max : 0;
  const at = (r: number, c: number) => o.map[Math.min(G - 1, Math.max(0, r)) * G + Math.min(G - 1, Math.max(0, c))] * scale;
  for (let Y = 0; Y < side; Y++) {
    const y = Math.floor(Y / f);
    // Grid coordinate of this output row's centre (patch centres at integers).
    const gy = Math.min(G - 1, Math.max(0, ((Y + 0.5) / side) * G - 0.5));
    const r0 = Math.floor(gy);
    const ty = gy - r0;
    for (let X = 0; X < side; X++) {
      const x = Math.floor(X / f);
      const rgb = C === 3 ? [level(0, y, x), level(1, y, x), level(2, y, x)] : [level(0, y, x), level(0, y, x), level(0, y, x)];
      const gx = Math.min(G - 1, Math.max(0, ((X + 0.5) / side) * G - 0.5));
      const c0 = Math.floor(gx);
      const tx = gx - c0;
      const v = (1 - ty) * ((1 - tx) * at(r0, c0) + tx * at(r0, c0 + 1)) + ty * ((1 - tx) * at(r0 + 1, c0) + tx * at(r0 + 1, c0 + 1));
      const k = Math.min(255, Math.max(0, Math.round(v * 255)));
      const left = 4 * (Y * width + X);
      const right = left + 4 * (side + GAP);
      for (let ch = 0; ch < 3; ch++) {
        png.data[left + ch] = rgb[ch];
        png.data[right + ch] = Math.round((1 - ALPHA) * rgb[ch] + ALPHA * lut[3 * k + ch]);
      }
    }
  }
  return PNG.sync.write(png);
}
