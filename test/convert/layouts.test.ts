import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { ViTModel } from '../../src/model/vit.js';
import { topK } from '../../src/model/topk.js';
import { maxRelError } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { fixtureCheckpoint, LAYOUT_FIXTURES, layoutGolden, optionsFromArgs } from './layout_fixtures.js';

// One seeded torchvision ViT written in every checkpoint layout by tools/make_layout_fixtures.py,
// with float64 golden outputs from PyTorch. Converting each and running it on the GPU must meet
// the engine core's tolerance: max |logit − golden| / max |golden| ≤ 1e-4 (features likewise) and
// the same top-5 in the same order. The same conversion written as F16 must stay within
// F16_TOL with the same top-1 (measured: see docs/checkpoints.md).
const TOL = 1e-4;
const F16_TOL = 5e-3;

const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('converted checkpoints against PyTorch', () => {
  for (const name of LAYOUT_FIXTURES) {
    it(name, async () => {
      const { golden, input } = layoutGolden(name);
      const converted = convertCheckpoint(await fixtureCheckpoint(golden.checkpoint), await optionsFromArgs(golden.convert_args));
      expect(converted.layout).toBe(golden.layout);
      expect(converted.weights.config).toEqual(golden.config);
      expect(converted.weights.labels ?? null).toEqual(golden.labels);

      const device = await testDevice();
      const errors: string[] = [];
      for (const dtype of ['F32', 'F16'] as const) {
        const bytes = encodeWeights(converted.weights, dtype);
        const model = await ViTModel.load(device, bytes, { label: `${name}.${dtype}`, batch: golden.batch });
        models.push(model);
        const out = await model.forward(input, { features: true });
        const featErr = maxRelError(out.features!, golden.features);
        const hasLogits = golden.logits[0].length > 0;
        const logitErr = hasLogits ? maxRelError(out.logits, golden.logits) : NaN;
        errors.push(`${dtype} logits ${hasLogits ? logitErr.toExponential(2) : '-'} features ${featErr.toExponential(2)} (${(bytes.byteLength / 1024).toFixed(0)} KiB)`);
        const tol = dtype === 'F32' ? TOL : F16_TOL;
        expect(featErr, `${name} ${dtype} features`).toBeLessThanOrEqual(tol);
        if (!hasLogits) continue;
        expect(logitErr, `${name} ${dtype} logits`).toBeLessThanOrEqual(tol);
        const top5 = topK(out.logits, model.numClasses, 5).map((row) => row.map((e) => e.index));
        if (dtype === 'F32') expect(top5).toEqual(golden.top5);
        else expect(top5.map((r) => r[0])).toEqual(golden.top5.map((r) => r[0]));
        errors[errors.length - 1] += dtype === 'F16' ? `, top-5 ${JSON.stringify(top5) === JSON.stringify(golden.top5) ? 'same' : 'differs'}` : '';
        await model.dispose();
      }
      console.log(`${name.padEnd(17)} ${errors.join('; ')}`);
    });
  }
});

// The F16 cost at a realistic depth: the generated ViT-S/16 fixture (12 layers, 384 wide, 224 px,
// seeded random weights; tools/make_fixtures.py, made by scripts/setup.sh) re-encoded as F16.
const VIT_S16 = join(import.meta.dirname, '..', 'fixtures', 'generated', 'vit_s16');
describe.skipIf(!existsSync(join(VIT_S16, 'model.safetensors')))('F16 cost on ViT-S/16', () => {
  it('vit_s16 as F16', async () => {
    const golden = JSON.parse(readFileSync(join(VIT_S16, 'golden.json'), 'utf8')) as { logits: number[][]; top5: number[][]; batch: number };
    const raw = readFileSync(join(VIT_S16, 'input.bin'));
    const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const converted = convertCheckpoint(await readCheckpoint(join(VIT_S16, 'model.safetensors')));
    const bytes = encodeWeights(converted.weights, 'F16');
    const model = await ViTModel.load(await testDevice(), bytes, { label: 'vit_s16.F16', batch: golden.batch });
    models.push(model);
    const out = await model.forward(input);
    const err = maxRelError(out.logits, golden.logits);
    const top5 = topK(out.logits, model.numClasses, 5).map((row) => row.map((e) => e.index));
    console.log(`vit_s16 F16: logits ${err.toExponential(2)} (${(bytes.byteLength / 2 ** 20).toFixed(1)} MiB), top-5 ${JSON.stringify(top5) === JSON.stringify(golden.top5) ? 'same' : `differs: ${JSON.stringify(top5)} vs ${JSON.stringify(golden.top5)}`}`);
    expect(err).toBeLessThanOrEqual(F16_TOL);
    expect(top5.map((r) => r[0])).toEqual(golden.top5.map((r) => r[0]));
  });
});
