import type { PreprocessConfig } from './preprocess.js';

/**
 * A PreprocessConfig as text: the `webvit.preprocess` metadata the converter writes, and the line
 * `inspect` prints. Apart from preprocess.ts so that the page, which only reads that metadata, does
 * not download them (the on-demand Hub loader's converter uses them; src/on_demand.ts).
 */

/** The JSON to store as `webvit.preprocess` (what the tools write); the optional fields only when set. */
export function preprocessMetadata(p: PreprocessConfig): string {
  const { resize, crop, interpolation, mean, std, channels } = p;
  return JSON.stringify({
    resize,
    crop,
    interpolation,
    mean,
    std,
    channels,
    ...(p.cropOffset !== undefined ? { crop_offset: p.cropOffset } : {}),
    ...(p.rescale !== undefined ? { rescale: p.rescale } : {}),
  });
}

/** One line for people: what the preprocessing does (inspect, convert). */
export function describePreprocess(p: PreprocessConfig): string {
  const r = (v: number[]) => `[${v.map((x) => +x.toFixed(4)).join(', ')}]`;
  const resize =
    p.resize === null
      ? 'no resize'
      : typeof p.resize === 'object'
        ? `resize to ${p.resize.width}×${p.resize.height} (aspect not kept, ${p.interpolation})`
        : `resize shorter side to ${p.resize} (${p.interpolation}${p.isDefault ? `, skipped when the image is already ${p.crop}×${p.crop}` : ''})`;
  const rescale = p.rescale === undefined ? '' : p.rescale === 1 ? ', no rescale (x, not x/255)' : `, rescale x·${p.rescale}`;
  return (
    `${resize}, centre crop ${p.crop}${p.cropOffset === 'floor' ? ' (offset floor((size − crop)/2), as Hugging Face)' : ''}, ` +
    `${p.channels === 'rgb' ? 'RGB' : "greyscale (PIL's L)"}${rescale}, mean ${r(p.mean)}, std ${r(p.std)}` +
    (p.isDefault ? ' — defaults: the file has no webvit.preprocess' : '')
  );
}

