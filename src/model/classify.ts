import type { ImagePreprocessor, PreprocessorImage } from '../image/preprocessor.js';
import { WebvitError } from '../runtime/errors.js';
import { shapeOf } from './config.js';
import type { TopClass, ViTModel } from './vit.js';

/** One forward pass: images start … start + count − 1, run at the plan's batch size `batch` (≥ count; the rest are zeros). */
export interface Pass {
  start: number;
  count: number;
  batch: number;
}

/**
 * The passes `n` images run in: up to `maxBatch` images each, every one at plan batch `batch`,
 * so a last, shorter pass reuses the same compiled plan. The CLI, which knows every file up
 * front, runs at min(--batch, n); the page, which cannot, at 1 for one image and maxBatch
 * otherwise (two plans whatever the array lengths: src/web/engine.ts).
 */
export function passesOf(n: number, maxBatch: number, batch: number): Pass[] {
  const out: Pass[] = [];
  for (let start = 0; start < n; start += maxBatch) out.push({ start, count: Math.min(maxBatch, n - start), batch });
  return out;
}

/** What one image came to: its top classes and (when asked) features, or the error that stopped it. */
export interface ImageRow {
  top?: TopClass[];
  features?: Float32Array;
  /** Only with `errors: 'each'`; `byModel`: the forward pass refused the image (not its file). */
  error?: WebvitError;
  byModel?: boolean;
}

/**
 * The classify loop of every entry point: the CLI's `webvit classify` and the page's (and
 * worker's) classify and embed. What differs between them is a parameter:
 * - the batching rule: `passes` (passesOf);
 * - where pixels come from: `open` makes a pass's images ready before its GPU work (the page:
 *   every DOM source decoded first, so a bad one fails the call before anything is queued),
 *   `image` hands image i over in its turn (the CLI reads and decodes the file there, so one
 *   image's pixels are held at a time), `close` runs after the pass whatever happened;
 * - what a bad image does: `errors: 'call'` (the page) fails the call with the first error;
 *   `'each'` (the CLI) records it in that image's row and goes on, and a pass the model refuses
 *   (BAD_INPUT: a float32 overflow on an extreme input) runs again one image at a time so that one
 *   image cannot take its pass with it. An error that is not a WebvitError is a bug: it is thrown.
 */
export interface ClassifyLoop<P> {
  model: ViTModel;
  pre: ImagePreprocessor;
  passes: Pass[];
  /** K of the top classes read back (the plan's topk op); undefined: none. */
  topK?: number;
  features?: boolean;
  errors: 'call' | 'each';
  name(i: number): string;
  open?(pass: Pass): Promise<P>;
  /** Image i (`j` within its pass) of the pass `opened` made ready. */
  image(i: number, opened: P, j: number): Promise<PreprocessorImage> | PreprocessorImage;
  close?(opened: P): void;
  /** Called once per image as its pass is put together (progress). */
  onImage?(i: number): void;
  /** A pass's rows as soon as they are known (the CLI prints them before the next pass). */
  onRows?(start: number, rows: ImageRow[]): void;
}

/** Runs every pass of `loop` in order; one row per image. */
export async function classifyImages<P>(loop: ClassifyLoop<P>): Promise<ImageRow[]> {
  const out: ImageRow[] = [];
  for (const pass of loop.passes) {
    const rows = await runPass(loop, pass, true);
    loop.onRows?.(pass.start, rows);
    out.push(...rows);
  }
  return out;
}

async function runPass<P>(loop: ClassifyLoop<P>, pass: Pass, first: boolean): Promise<ImageRow[]> {
  const each = loop.errors == 'each';
  const rows: ImageRow[] = [];
  /** Image j's row of the batch, or undefined where it failed. */
  const slot: number[] = [];
  let n = 0;
  let r;
  const opened = (await loop.open?.(pass)) as P;
  try {
    const input = loop.pre.input(pass.batch, async (put) => {
      for (let j = 0; j < pass.count; j++) {
        const i = pass.start + j;
        rows[j] = {};
        try {
          await put(await loop.image(i, opened, j), loop.name(i));
          slot[j] = n++;
        } catch (e) {
          if (!each || !(e instanceof WebvitError)) throw e;
          rows[j].error = e;
        }
        if (first) loop.onImage?.(i);
      }
    });
    r = await loop.model.forward(input, { topK: loop.topK, features: loop.features });
  } catch (e) {
    if (!each || !(e instanceof WebvitError && e.code == 'BAD_INPUT')) throw e;
    if (pass.count == 1) return [{ error: e, byModel: true }];
  } finally {
    loop.close?.(opened);
  }
  const D = shapeOf(loop.model.config).featureSize; // D, 2·D for DeiT's two tokens, or a projection's width
  for (let j = 0; j < pass.count; j++) {
    const s = slot[j];
    if (s === undefined) continue;
    // Without r the model refused the pass: each image that was put runs alone (read again).
    rows[j] = r ? { top: r.top?.[s], features: loop.features ? r.features!.slice(s * D, (s + 1) * D) : undefined } : (await runPass(loop, { ...pass, start: pass.start + j, count: 1 }, false))[0];
  }
  return rows;
}
