import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { ImagePreprocessor } from '../../src/image/preprocessor.js';
import { rolloutRow } from '../../src/model/explain.js';
import { ViTModel } from '../../src/model/vit.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import type { RgbaPixels } from '../../src/web/types.js';

// clf.explain(source): the web API's view of ViTModel.explain (docs/explain.md), for the demo
// page's attention overlay. Held to the library path on the same pixels: the image preprocessed
// as the CLI does, then model.explain() — rollout, every layer's map and every head's distance
// within 1e-6 relative (same kernels on the same device kind; only the preprocessing's route to
// the model input differs, and it is exact).
const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));
const TOL = 1e-6;
const devices: GPUDevice[] = [];
afterAll(() => devices.forEach((d) => d.destroy()));

const rel = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
};

describe('ImageClassifier.explain', () => {
  it('gives the library path’s rollout, layer maps and distances for an example image', async () => {
    const d = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', 'ankle-boot.png'))), 'ankle-boot.png');
    const img: RgbaPixels = { data: d.rgba, width: d.width, height: d.height };

    const device = await getNodeDevice();
    devices.push(device);
    const model = await ViTModel.load(device, MODEL);
    const pre = new ImagePreprocessor(device, model.preprocess);
    const px = await pre.run([{ width: img.width, height: img.height, rgba: img.data as Uint8Array }]);
    const want = await model.explain(px, { batch: 1 });
    await pre.dispose();
    await model.dispose();

    const clf = await createImageClassifier({ model: MODEL.slice().buffer, device: async () => { const d2 = await getNodeDevice(); devices.push(d2); return d2; } });
    try {
      const before = await clf.stats();
      const got = await clf.explain(img);
      expect(got.grid).toBe(want.grid);
      expect(got.rollout.length).toBe(want.grid * want.grid);
      expect(rel(got.rollout, want.rollout[0])).toBeLessThanOrEqual(TOL);
      const T = want.prefix + want.grid * want.grid;
      expect(got.layers.length).toBe(want.layers);
      for (let l = 0; l < want.layers; l++) expect(rel(got.layers[l], rolloutRow(want.attention, 0, T, want.prefix, want.probe?.[0] ?? (want.pooling as "cls"), l)), `layer ${l}`).toBeLessThanOrEqual(TOL);
      expect(got.distance.map((x) => x.length)).toEqual(want.distance.map(() => want.heads));
      for (let l = 0; l < want.layers; l++) expect(rel(got.distance[l], want.distance[l].subarray(0, want.heads)), `distance ${l}`).toBeLessThanOrEqual(TOL);
      expect(got.source).toBe(want.source);
      expect(got.imageSize).toBe(28);
      // The rollout is a distribution over the patches, mostly: non-negative, not all equal.
      expect(Math.min(...got.rollout)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...got.rollout)).toBeGreaterThan(Math.min(...got.rollout));
      // Classify still works after it, and explain's buffers do not pile up.
      expect((await clf.classify(img))[0].label).toBe('Ankle boot');
      await clf.explain(img);
      const after = await clf.stats();
      await clf.explain(img);
      expect((await clf.stats()).buffers).toBe(after.buffers);
      expect(after.buffers).toBeGreaterThanOrEqual(before.buffers);
    } finally {
      await clf.dispose();
    }
  });
});
