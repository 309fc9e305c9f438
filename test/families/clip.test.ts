import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { readWeights } from '../../src/model/weights.js';
import { ViTModel } from '../../src/model/vit.js';
import { testDevice } from '../helpers/gpu.js';
import { maxAbsDiff } from '../helpers/fixtures.js';
import { expectConvertError } from '../convert/layout_fixtures.js';

// The CLIP image tower (issue 19), from Hugging Face checkpoints in the exact key layout and config
// format of real ones (tools/make_family_fixtures.py: seeded weights, our own PyTorch re-implementation
// of transformers' CLIPVisionTransformer): a full CLIPModel with its text tower (ignored), relying on
// CLIPVisionConfig's defaults, and a CLIPVisionModelWithProjection with the old position_ids buffer.
// The embeddings (visual_projection of the post-layernorm class token) must be within 2× PyTorch
// float32's own error on the same weights and input (|f32 − f64| of its golden) of PyTorch's float64.
const DIR = join(import.meta.dirname, '..', 'fixtures', 'families');

interface ClipGolden {
  batch: number;
  image_size: number;
  resolved_config: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number; intermediate_size: number; patch_size: number; layer_norm_eps: number; projection_dim: number };
  embeddings: number[][];
  embeddings_f32: number[][];
  pooled: number[][];
}

const fixture = (name: string) => {
  const dir = join(DIR, name);
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as ClipGolden;
  const raw = readFileSync(join(dir, 'input.bin'));
  return { dir, golden, input: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
};


const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

describe('CLIP image tower against PyTorch', () => {
  for (const name of ['clip_full', 'clip_vision_proj']) {
    it(`${name}: converts (layout detected, text tower and position_ids read past), and its embeddings are within 2× PyTorch float32's error`, async () => {
      const { dir, golden, input } = fixture(name);
      const converted = convertCheckpoint(await readCheckpoint(dir));
      const rc = golden.resolved_config;
      expect(converted.layout).toBe('clip');
      expect(converted.weights.config).toMatchObject({
        family: 'clip',
        pre_norm: true,
        projection_size: rc.projection_dim,
        hidden_size: rc.hidden_size,
        num_layers: rc.num_hidden_layers,
        num_heads: rc.num_attention_heads,
        mlp_size: rc.intermediate_size,
        image_size: golden.image_size,
        patch_size: rc.patch_size,
        layer_norm_eps: rc.layer_norm_eps,
        hidden_act: 'quick_gelu',
        num_classes: 0,
        pooling: 'cls',
      });
      const notes = converted.notes.join('\n');
      if (name === 'clip_full') {
        expect(notes).toMatch(/text tower ignored: \d+ tensor/);
        expect(notes).toMatch(/layer_norm_eps 0\.00001: CLIPVisionConfig's default|layer_norm_eps 1e-5: CLIPVisionConfig's default/);
      } else {
        expect(notes).toMatch(/dropped vision_model\.embeddings\.position_ids/);
      }
      // CLIP's processor, exactly: resize the short side (bicubic), centre crop, OpenAI's mean/std.
      expect(converted.metadata?.['webvit.preprocess']).toBeDefined();
      const pre = JSON.parse(converted.metadata!['webvit.preprocess']);
      expect(pre).toMatchObject({ crop: golden.image_size, interpolation: 'bicubic', mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] });

      const bytes = encodeWeights(converted.weights, 'F32', converted.metadata);
      expect(readWeights(bytes, name).config).toEqual(converted.weights.config);
      const model = await ViTModel.load(await testDevice(), bytes, { label: name, batch: golden.batch });
      models.push(model);
      const out = await model.forward(input, { features: true });
      expect(out.features!.length).toBe(golden.batch * rc.projection_dim);
      const want = golden.embeddings.flat();
      const torchErr = maxAbsDiff(golden.embeddings_f32.flat(), want);
      const ours = maxAbsDiff(out.features!, want);
      console.log(`${name}: embeddings max |webvit − f64| ${ours.toExponential(2)}, PyTorch float32's own ${torchErr.toExponential(2)} (ratio ${(ours / torchErr).toFixed(2)})`);
      expect(torchErr).toBeGreaterThan(0);
      expect(ours, `${name}: webvit's error is over 2× PyTorch float32's`).toBeLessThanOrEqual(2 * torchErr);
    });
  }
});

// Round eight: a CLIPModel config.json without vision_config gets CLIPVisionConfig's defaults (as
// transformers does); the error they led to said "vision_config num_hidden_layers is 12", a
// number the file does not hold.
describe('CLIP conversion refusals', () => {
  it('an error that defaults led to names them as defaults', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'clip_full'));
    const { vision_config: _, ...noVision } = ckpt.config!;
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: noVision }), ['num_hidden_layers is 12', 'does not give hidden_size (768), num_channels (3), patch_size (32), num_hidden_layers (12): CLIPVisionConfig\'s defaults were used']);
  });
});
