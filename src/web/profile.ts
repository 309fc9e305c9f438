import type { ImagePreprocessor, PreprocessorImage } from '../image/preprocessor.js';
import type { GpuInput, TopClass, ViTModel } from '../model/vit.js';
import type { DispatchTiming, PlanProfile } from '../runtime/plan.js';

/**
 * Milliseconds per stage of one image's classification, each stage waited for on the GPU before
 * the next starts (so they add up, and the whole is slower than a plain classify, which overlaps
 * them in one queue):
 * - decode: the source made ready on this thread (a Blob or URL decoded to an ImageBitmap; DOM
 *   images and bitmaps are taken as they are);
 * - upload: its pixels copied to a GPU texture (copyExternalImageToTexture), wall time to done;
 *   RGBA pixels in memory (ImageData) are uploaded by the preprocessor, so they count there;
 * - preprocess: texture rows to the band buffer, resize, crop and normalise into the model's
 *   input tensor, wall time to done;
 * - forward: the model's dispatches, the sum of their GPU times (`method` says how measured);
 * - readback: the rest of the forward call (copying the top-K out, mapping, reading; submit overhead).
 */
export interface StageTimes {
  decode: number;
  upload: number;
  preprocess: number;
  forward: number;
  readback: number;
}

/** One image's classification timed by stage and by dispatch (ImageClassifier.profile). */
export interface ClassifyProfile {
  stages: StageTimes;
  /** How dispatch times were taken: GPU timestamps, or submit-and-wait per dispatch. */
  method: PlanProfile['method'];
  /** Every dispatch of the forward pass: label (block and op), kernel ("op/variant"), ms. */
  dispatches: DispatchTiming[];
  /** Sum of the dispatches' ms (the forward stage). */
  totalMs: number;
}

/**
 * Runs one image through the classifier's own pieces (its device, model plan, preprocessor and
 * texture path) with a wait after each stage. `decode` makes the source ready, `toGpu` uploads
 * it (both the classifier's own functions); `k` is the top-K of the plan the classifier runs, so
 * no new plan is compiled for profiling.
 */
export async function profileImage<P extends { close?: () => void }>(
  parts: { device: GPUDevice; model: ViTModel; pre: ImagePreprocessor },
  decode: () => Promise<P>,
  toGpu: (pixels: P) => PreprocessorImage,
  k: number | undefined,
): Promise<ClassifyProfile & { top?: TopClass[] }> {
  const { device, model, pre } = parts;
  const now = () => performance.now();
  const t0 = now();
  const pixels = await decode();
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
