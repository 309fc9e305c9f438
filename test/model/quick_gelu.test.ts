import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { parseConfig } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { topK } from '../../src/model/topk.js';
import { expectWebvitError } from '../helpers/errors.js';
import { maxRelError } from '../helpers/fixtures.js';
import { logMeasured } from '../helpers/compare.js';
import { testDevice } from '../helpers/gpu.js';

// quick_gelu (x·sigmoid(1.702x), CLIP image towers) end to end: a Hugging Face checkpoint whose
// config.json says hidden_act "quick_gelu" (tools/make_quick_gelu_fixture.py: a seeded torchvision
// ViT with QuickGELU in every MLP, golden outputs from PyTorch in float64) is converted, loaded and
// run. Tolerance: the golden test's, max |logit − golden| / max |golden| ≤ 1e-4; the exact GELU
// in its place moves the logits by 6.4e-3 of max |logit|, so the test can tell them apart.
const TOL = 1e-4;
const DIR = join(import.meta.dirname, '..', 'fixtures', 'quick_gelu');
const golden = JSON.parse(readFileSync(join(DIR, 'golden.json'), 'utf8')) as { config: Record<string, unknown>; logits: number[][]; features: number[][]; top5: number[][]; batch: number };
const raw = readFileSync(join(DIR, 'input.bin'));
const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('quick_gelu model (Hugging Face hidden_act "quick_gelu")', () => {
  it('converts with the activation in its config, and matches PyTorch', async () => {
    const r = convertCheckpoint(await readCheckpoint(DIR));
    expect(r.weights.config).toEqual(golden.config);
    expect(r.weights.config.hidden_act).toBe('quick_gelu');
    expect(r.notes.join('\n')).toContain('MLP activation quick_gelu');
    const bytes = encodeWeights(r.weights);
    expect(readWeights(bytes, 'quick_gelu').config.hidden_act).toBe('quick_gelu');
    const device = await testDevice();
    const model = await ViTModel.load(device, bytes, { label: 'quick_gelu', batch: golden.batch });
    models.push(model);
    const out = await model.forward(input, { features: true });
    const err = maxRelError(out.logits, golden.logits);
    logMeasured(`quick_gelu: max logit error / max |logit| = ${err.toExponential(3)}`);
    expect(err).toBeLessThanOrEqual(TOL);
    expect(maxRelError(out.features!, golden.features)).toBeLessThanOrEqual(TOL);
    expect(topK(out.logits, model.numClasses, 5).map((row) => row.map((e) => e.index))).toEqual(golden.top5);

    // The same weights run with the exact GELU miss the golden outputs by far.
    const { hidden_act: _, ...asGelu } = r.weights.config;
    const gelu = await ViTModel.fromWeights(device, { ...r.weights, config: asGelu }, { label: 'as_gelu', batch: golden.batch });
    models.push(gelu);
    expect(maxRelError((await gelu.forward(input)).logits, golden.logits)).toBeGreaterThan(10 * TOL);
  });

  it('fuses the activation into fc1: the same dispatches as a GELU model, fc1 calling quick_gelu', () => {
    const c = parseConfig(golden.config, 'golden');
    const dummy = () => ({ buffer: undefined as unknown as GPUBuffer });
    const quick = buildGraph(c, dummy, { batch: 1, maxWorkgroupStorage: 16384 }).dispatches;
    const { hidden_act: _, ...rest } = c;
    const plain = buildGraph(rest, dummy, { batch: 1, maxWorkgroupStorage: 16384 }).dispatches;
    expect(quick.map((d) => d.label)).toEqual(plain.map((d) => d.label));
    const fc1 = quick.find((d) => d.label === 'blocks.0.mlp.fc1')!;
    expect(fc1.source.code).toContain('quick_gelu4(');
    expect(fc1.source.code).not.toContain('erf_f32');
    expect(plain.find((d) => d.label === 'blocks.0.mlp.fc1')!.source.code).toContain('gelu4(');
  });

  it('refuses an activation it does not run, in a weight file config and in config.json', async () => {
    expect(() => parseConfig({ ...golden.config, hidden_act: 'gelu_new' }, 'test')).toThrow(/field hidden_act must be one of "gelu", "quick_gelu", "gelu_tanh" \(or absent: "gelu"\), got "gelu_new"/);
    const ckpt = await readCheckpoint(DIR);
    await expectWebvitError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, hidden_act: 'silu' } }), 'BAD_WEIGHTS', ['hidden_act is "silu"', '"gelu" or "quick_gelu"']);
  });
});
