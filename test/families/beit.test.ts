import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { expandRelativeBias, relativePositionIndex } from '../../src/model/families/beit/convert.js';
import { topK } from '../../src/model/topk.js';
import { ViTModel } from '../../src/model/vit.js';
import { testDevice } from '../helpers/gpu.js';
import { expectWithinTorch, maxAbsDiff } from '../helpers/fixtures.js';
import { expectConvertError } from '../convert/layout_fixtures.js';

// BEiT (issue 19) from Hugging Face checkpoints in the exact key layout and config format of real
// ones (tools/make_family_fixtures.py; our own PyTorch re-implementation of transformers'
// BeitForImageClassification): beit_cls has a relative position bias table per layer (and the
// int64 relative_position_index older checkpoints carry), beit_shared one shared table plus
// absolute positions, and runs at its processor's crop (48) rather than its stated size (40), so
// the table's grid is resized bilinearly and the positions bicubically, as transformers' BEiT does.
// Both have randomised layer scales (a wrong fold shows). Logits and the pooled output within 2×
// PyTorch float32's own error (|f32 − f64| of its goldens), same top-5. BEiT's float64 model
// resizes in float64 (unlike DINOv2's, which resizes in float32), so webvit's own resizes match
// PyTorch's to float32 rounding and the bound is 2× with them too (measured: the same errors).
const DIR = join(import.meta.dirname, '..', 'fixtures', 'families');

interface BeitGolden {
  batch: number;
  image_size: number;
  stated_image_size: number;
  resolved_config: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number; num_labels: number; patch_size: number };
  pooled: number[][];
  pooled_f32: number[][];
  logits: number[][];
  logits_f32: number[][];
  top5: number[][];
  pos_embed_resized?: number[][];
  relative_position_bias_tables_resized?: Record<string, number[][]>;
  relative_position_index_resized?: number[][];
}

const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('BEiT against PyTorch', () => {
  for (const name of ['beit_cls', 'beit_shared']) {
    it(`${name}: converts, pooled output, logits and top-5 within 2× PyTorch float32's error`, async () => {
      const dir = join(DIR, name);
      const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as BeitGolden;
      const raw = readFileSync(join(dir, 'input.bin'));
      const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const converted = convertCheckpoint(await readCheckpoint(dir));
      expect(converted.layout).toBe('beit');
      const rc = golden.resolved_config;
      const shared = name === 'beit_shared';
      expect(converted.weights.config).toMatchObject({ family: 'beit', image_size: golden.image_size, hidden_size: rc.hidden_size, num_layers: rc.num_hidden_layers, num_heads: rc.num_attention_heads, num_classes: rc.num_labels, pooling: 'mean', fc_norm: true, layer_norm_eps: 1e-12, rel_pos_bias: shared ? 'shared' : 'layer' });
      const notes = converted.notes.join('\n');
      expect(notes).toMatch(/layer scale \(lambda_1\/2\) folded/);
      if (!shared) expect(notes).toMatch(/relative position indices/);
      const runs: [string, number, Map<string, Float32Array>][] = [["webvit's conversion", 2, converted.weights.tensors]];
      if (shared) {
        expect(notes).toMatch(/runs at 48×48/);
        // The resized pieces against PyTorch's: the index exactly, the table and positions to float32 rounding.
        const g = golden.image_size / rc.patch_size;
        expect(Array.from(relativePositionIndex(g))).toEqual(golden.relative_position_index_resized!.flat());
        const [tableName, table] = Object.entries(golden.relative_position_bias_tables_resized!)[0];
        const H = rc.num_attention_heads;
        const T = 1 + g * g;
        const torchBias = expandRelativeBias(Float32Array.from(table.flat()), H, g, g);
        expect(maxAbsDiff(converted.weights.tensors.get('rel_pos_bias')!, [...torchBias]), tableName).toBeLessThan(2e-6);
        expect(torchBias.length).toBe(H * T * T);
        const torchPos = Float32Array.from(golden.pos_embed_resized!.flat());
        expect(maxAbsDiff(converted.weights.tensors.get('pos_embed')!, [...torchPos])).toBeLessThan(2e-6);
        runs.unshift(["PyTorch's resized table and positions", 2, new Map(converted.weights.tensors).set('rel_pos_bias', torchBias).set('pos_embed', torchPos)]);
      }
      const pre = JSON.parse(converted.metadata!['webvit.preprocess']);
      expect(pre).toMatchObject({ crop: golden.image_size, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
      const report: string[] = [];
      for (const [how, factor, tensors] of runs) {
        const model = await ViTModel.load(await testDevice(), encodeWeights({ ...converted.weights, tensors }, 'F32', converted.metadata), { label: name, batch: golden.batch });
        models.push(model);
        const out = await model.forward(input, { features: true });
        const check = (what: string, got: ArrayLike<number>, f64: number[][], f32: number[][]) => expectWithinTorch(report, `${name} with ${how}`, what, got, f64, f32, factor);
        check('pooled', out.features!, golden.pooled, golden.pooled_f32);
        check('logits', out.logits, golden.logits, golden.logits_f32);
        expect(topK(out.logits, rc.num_labels, 5).map((r) => r.map((e) => e.index))).toEqual(golden.top5);
      }
      console.log(`${name}: ${report.join('; ')}`);
    });
  }

  it('explain on BEiT: the rollout and every layer\'s attention include the relative position bias (they differ without it)', async () => {
    const dir = join(DIR, 'beit_cls');
    const converted = convertCheckpoint(await readCheckpoint(dir));
    const raw = readFileSync(join(dir, 'input.bin'));
    const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const one = all.subarray(0, all.length / 3);
    const device = await testDevice();
    const model = await ViTModel.load(device, encodeWeights(converted.weights, 'F32', converted.metadata), { label: 'beit_explain' });
    models.push(model);
    const e = await model.explain(one);
    const fwd = await model.forward(one);
    // explain runs the same forward pass (its logits) with the explain kernels adding the bias.
    expect(maxAbsDiff(e.logits, [...fwd.logits])).toBeLessThan(1e-5);
    const zeroBias = new Map(converted.weights.tensors);
    for (const [n, v] of zeroBias) if (n.endsWith('rel_pos_bias')) zeroBias.set(n, new Float32Array(v.length));
    const plain = await ViTModel.load(device, encodeWeights({ ...converted.weights, tensors: zeroBias }, 'F32', converted.metadata), { label: 'beit_nobias' });
    models.push(plain);
    const e0 = await plain.explain(one);
    expect(maxAbsDiff(e.attention[0], [...e0.attention[0]])).toBeGreaterThan(1e-3);
  });
});

describe('BEiT conversion refusals', () => {
  it('a masked-image-modeling checkpoint, another activation and both bias kinds at once are refused by name', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'beit_cls'));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, hidden_act: 'relu' } }), ['hidden_act is "relu"']);
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, use_shared_relative_position_bias: true } }), ['sets both use_relative_position_bias and use_shared_relative_position_bias']);
    const tensors = new Map(ckpt.tensors);
    const any = [...tensors.values()][0];
    tensors.set('lm_head.weight', { ...any, name: 'lm_head.weight' });
    await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors }), ['BeitForMaskedImageModeling']);
  });
  it('--layout beit on another family, and another layout on BEiT tensors, say so', async () => {
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(join(DIR, 'clip_full')), { layout: 'beit' }), ["--layout beit, but these tensors are not BEiT's"]);
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(join(DIR, 'beit_cls')), { layout: 'dinov2' }), ["--layout dinov2, but these tensors are not DINOv2's"]);
  });
  // Round nine: a checkpoint without lambda_2 converted as if it had no layer scale (scale 1, where
  // transformers starts a missing one at layer_scale_init_value), and one whose config says no layer
  // scale (0) had its lambdas folded in anyway (transformers ignores them): answers unlike transformers'.
  it('lambda_1/2 follow layer_scale_init_value: one missing is refused naming it, ones a config of 0 does not use are refused as unused', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'beit_cls'));
    const tensors = new Map([...ckpt.tensors].filter(([n]) => n !== 'beit.encoder.layer.1.lambda_2'));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors }), ['missing tensor beit.encoder.layer.1.lambda_2', 'layer_scale_init_value is 0.1']);
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, layer_scale_init_value: 0 } }), ['unused tensor(s)', 'lambda_1']);
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, layer_scale_init_value: '0.1' } }), ['layer_scale_init_value must be a number, got "0.1"']);
    const { layer_scale_init_value: _, ...noField } = ckpt.config as Record<string, unknown>;
    expect(convertCheckpoint({ ...ckpt, config: noField }).notes.join('\n')).toMatch(/layer scale \(lambda_1\/2\) folded/);
  });
  // Round nine: a crop of 4096 (within the image-size limit) made the [H, T, T] bias 6.9e10 values
  // before the config's size check ran: "internal error: Invalid typed array length".
  it('a run size whose relative position bias is beyond the tensor limit is refused naming where the size came from, before building it', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'beit_shared'));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, preprocessor: { ...ckpt.preprocessor, crop_size: { height: 4096, width: 4096 } } }), ['crop_size 4096 makes the relative position bias [5, 262145, 262145]', 'above the limit of 268435456 values per tensor', '--image-size']);
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(join(DIR, 'beit_cls')), { imageSize: 2048 }), ['--image-size 2048 makes the relative position bias [4, 65537, 65537]']);
  });
});
