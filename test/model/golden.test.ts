import { afterAll, describe, expect, it } from 'vitest';
import { ViTModel } from '../../src/model/vit.js';
import { topK } from '../../src/model/topk.js';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';

// Golden logits from PyTorch (torchvision VisionTransformer, seeded random weights, float64), made
// by tools/make_fixtures.py. Required: max |logit − golden| / max |golden| ≤ 1e-4 and the same
// top-5 classes in the same order for every image. Features (pooled, after the final layernorm)
// are held to the same bound.
const TOL = 1e-4;

const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('golden logits against PyTorch', () => {
  for (const name of ['tiny', 'tiny_mean', 'vit_s16']) {
    it(name, async () => {
      const device = await testDevice();
      const f = loadFixture(name);
      const model = await ViTModel.load(device, f.model, { label: name, batch: f.golden.batch });
      models.push(model);
      const out = await model.forward(f.input, { features: true });
      expect(out.batch).toBe(f.golden.batch);
      const err = maxRelError(out.logits, f.golden.logits);
      const featErr = maxRelError(out.features!, f.golden.features);
      console.log(`${name}: max logit error / max |logit| = ${err.toExponential(3)}, features ${featErr.toExponential(3)}`);
      expect(err, `${name}: logits`).toBeLessThanOrEqual(TOL);
      expect(featErr, `${name}: features`).toBeLessThanOrEqual(TOL);
      const top5 = topK(out.logits, model.numClasses, 5).map((row) => row.map((e) => e.index));
      expect(top5).toEqual(f.golden.top5);
    });
  }

  it('gives the same logits image by image as in a batch (batch 1 plan vs batch 3 plan)', async () => {
    const device = await testDevice();
    const f = loadFixture('tiny');
    const model = await ViTModel.load(device, f.model, { label: 'tiny.batches' });
    models.push(model);
    const per = f.input.length / f.golden.batch;
    for (let b = 0; b < f.golden.batch; b++) {
      const out = await model.forward(f.input.subarray(b * per, (b + 1) * per));
      expect(maxRelError(out.logits, [f.golden.logits[b]])).toBeLessThanOrEqual(TOL);
    }
  });
});
