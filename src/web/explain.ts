import type { ImagePreprocessor, PreprocessorImage } from '../image/preprocessor.js';
import { rolloutRow } from '../model/rollout.js';
import type { ViTModel } from '../model/vit.js';
import { BufferOwner, readback } from '../runtime/buffers.js';
import type { ImageExplanation } from './types.js';

/** What explainImage uses of the classifier's runtime (engine.ts), and the input buffer it keeps there. */
export interface ExplainRuntime {
  device: GPUDevice;
  model: ViTModel;
  pre: ImagePreprocessor;
  /** explain()'s preprocessed image, one buffer kept for every call (the preprocessor caches its passes per target). */
  explainInput?: { owner: BufferOwner; buffer: GPUBuffer };
}

/**
 * One image explained (ImageClassifier.explain): preprocessed on the GPU as for classify
 * (`image` uploads it: the classifier's own path), into a buffer of its own, read back (one
 * image: 3·224² floats at most) and explained by ViTModel.explain's own plan. Imported on the
 * first explain(), with the on-demand chunk (src/on_demand.ts): a page that only classifies does not load it.
 */
export async function explainImage(rt: ExplainRuntime, image: () => Promise<PreprocessorImage>, name: string): Promise<ImageExplanation> {
  const c = rt.model.config;
  const size = 4 * c.num_channels * c.image_size * c.image_size;
  if (!rt.explainInput) {
    const owner = new BufferOwner(rt.device);
    rt.explainInput = { owner, buffer: owner.create({ label: 'webvit.explain.input', size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }) };
  }
  const buffer = rt.explainInput.buffer;
  const input = rt.pre.input(1, async (put) => put(await image(), name));
  const encoder = rt.device.createCommandEncoder({ label: 'webvit.explain.preprocess' });
  await input.write({ buffer, offset: 0, size }, encoder);
  rt.device.queue.submit([encoder.finish()]);
  const e = await rt.model.explain(new Float32Array(await readback(rt.device, buffer, 0, size)), { batch: 1 });
  const T = e.prefix + e.grid * e.grid;
  return {
    grid: e.grid,
    rollout: e.rollout[0],
    layers: Array.from({ length: e.layers }, (_, l) => rolloutRow(e.attention, 0, T, e.prefix, e.probe?.[0] ?? (e.pooling as 'cls'), l)),
    distance: e.distance.map((d) => d.slice(0, e.heads)),
    source: e.source,
    imageSize: c.image_size,
  };
}
