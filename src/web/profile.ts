import type { ImagePreprocessor, PreprocessorImage } from '../image/preprocessor.js';
import type { GpuInput, TopClass, ViTModel } from '../model/vit.js';
import type { Pixels } from './sources.js';
import type { ClassifyProfile } from './types.js';
import type { TextureRows } from './texture_rows.js';

/**
 * Runs one image through the classifier's own pieces (its device, model plan, preprocessor and
 * texture path) with a wait after each stage. `decode` makes the source ready, `toGpu` uploads
 * it (both the classifier's own functions); `k` is the top-K of the plan the classifier runs, so
 * no new plan is compiled for profiling.
 */
export async function profileImage(
  parts: { device: GPUDevice; model: ViTModel; pre: ImagePreprocessor; textures: TextureRows },
  ready: () => Promise<Pixels>,
  toGpu: (pixels: Pixels) => PreprocessorImage,
  k: number | undefined,
): Promise<ClassifyProfile & { top?: TopClass[] }> {
  const { device, model, pre, textures } = parts;
  const now = () => performance.now();
  const t0 = now();
  const name = 'the image';
  // A source without a direct texture copy (see Pixels.fallback) is made a bitmap first, so
  // that the upload stage times the copy alone.
  let pixels = await ready();
  try {
    if (pixels.kind === 'texture') await textures.checkDevice(pixels.texture, name);
    if (pixels.kind === 'external' && pixels.fallback) pixels = await probeCopy(textures, pixels, name);
  } catch (e) {
    pixels.close?.();
    throw e;
  }
  try {
    const t1 = now();
    const image = toGpu(pixels);
    await device.queue.onSubmittedWorkDone();
    const t2 = now();
    // The preprocessor submits its passes itself, in the forward call's turn (before the model's
    // dispatches in queue order): waiting for the queue right after isolates them.
    const input = pre.input(1, (put) => put(image, 'the image'));
    let preprocess = 0;
    const timed: GpuInput = {
      batch: input.batch,
      byteLength: input.byteLength,
      write: async (target, encoder) => {
        const a = now();
        await input.write(target, encoder);
        await device.queue.onSubmittedWorkDone();
        preprocess = now() - a;
      },
    };
    const t3 = now();
    const p = await model.profile(timed, { topK: k });
    const t4 = now();
    return {
      stages: { decode: t1 - t0, upload: t2 - t1, preprocess, forward: p.totalMs, readback: Math.max(0, t4 - t3 - preprocess - p.totalMs) },
      method: p.method,
      dispatches: p.dispatches,
      totalMs: p.totalMs,
      top: p.result.top?.[0],
    };
  } finally {
    pixels.close?.();
  }
}

/** `px` if the texture copy takes it, else Pixels of its ImageBitmap (closed with them). */
async function probeCopy(textures: TextureRows, px: Extract<Pixels, { kind: 'external' }>, name: string): Promise<Pixels> {
  try {
    textures.upload(px, name);
    return { ...px, fallback: undefined };
  } catch {
    const b = await px.fallback!();
    return { kind: 'external', source: b, width: b.width, height: b.height, close: () => b.close() };
  }
}
