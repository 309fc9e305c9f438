import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { topK } from '../../src/model/topk.js';
import { ViTModel } from '../../src/model/vit.js';
import { testDevice } from '../helpers/gpu.js';
import { expectWithinTorch, maxAbsDiff } from '../helpers/fixtures.js';
import { expectConvertError } from '../convert/layout_fixtures.js';

// SigLIP's image tower (issue 19) from Hugging Face checkpoints in the exact key layout and config
// format of real ones (tools/make_family_fixtures.py; our own PyTorch re-implementation of
// transformers' SiglipVisionTransformer, its attention-pooling head and SiglipForImageClassification):
// a full SiglipModel (text tower present), a SiglipVisionModel whose processor makes images larger
// than its stated size (the position grid resized as interpolate_pos_encoding does it), and a
// classifier. Embeddings (the head's pooled output) and logits within 2× PyTorch float32's own
// error (|f32 − f64| of its goldens), with PyTorch's resized position rows and with webvit's own
// resize (SigLIP resizes in the model's dtype: float64 in the float64 reference, so webvit's
// float64 resize matches it to float32 rounding); the classifier's top-5 the same.
const DIR = join(import.meta.dirname, '..', 'fixtures', 'families');

interface SiglipGolden {
  architecture: string;
  batch: number;
  image_size: number;
  stated_image_size: number;
  resolved_config: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number; num_labels: number };
  embeddings: number[][];
  embeddings_f32: number[][];
  last_hidden_state_mean: number[][];
  last_hidden_state_mean_f32: number[][];
  logits?: number[][];
  logits_f32?: number[][];
  top5?: number[][];
  pos_embed_resized?: number[][];
}

const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

const readInput = (dir: string) => {
  const raw = readFileSync(join(dir, 'input.bin'));
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
};

describe('SigLIP against PyTorch', () => {
  for (const name of ['siglip_full', 'siglip_vision', 'siglip_cls']) {
    it(`${name}: converts, ${name === 'siglip_cls' ? 'features (token mean), logits and top-5' : 'embeddings (the pooling head\'s output)'} within 2× PyTorch float32's error`, async () => {
      const dir = join(DIR, name);
      const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as SiglipGolden;
      const input = readInput(dir);
      const converted = convertCheckpoint(await readCheckpoint(dir));
      expect(converted.layout).toBe('siglip');
      const classes = golden.resolved_config.num_labels;
      const D = golden.resolved_config.hidden_size;
      expect(converted.weights.config).toMatchObject({ family: 'siglip', image_size: golden.image_size, hidden_size: D, num_layers: golden.resolved_config.num_hidden_layers, num_heads: golden.resolved_config.num_attention_heads, num_classes: classes, pooling: classes ? 'mean' : 'map', class_token: false, hidden_act: 'gelu_tanh', layer_norm_eps: 1e-6 });
      const notes = converted.notes.join('\n');
      if (name === 'siglip_full') expect(notes).toMatch(/text tower ignored: \d+ tensor\(s\)/);
      if (classes) expect(notes).toMatch(/attention-pooling head ignored/);
      const pre = JSON.parse(converted.metadata!['webvit.preprocess']);
      expect(pre).toMatchObject({ interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });

      const runs: [string, number, Map<string, Float32Array>][] = [['webvit\'s conversion', 2, converted.weights.tensors]];
      if (golden.pos_embed_resized) {
        expect(golden.image_size).not.toBe(golden.stated_image_size);
        expect(notes).toMatch(new RegExp(`runs at ${golden.image_size}×${golden.image_size}`));
        const torchPos = Float32Array.from(golden.pos_embed_resized.flat());
        expect(maxAbsDiff(converted.weights.tensors.get('pos_embed')!, [...torchPos])).toBeLessThan(2e-6);
        runs.unshift(['PyTorch\'s position rows', 2, new Map(converted.weights.tensors).set('pos_embed', torchPos)]);
      }
      const report: string[] = [];
      for (const [how, factor, tensors] of runs) {
        const model = await ViTModel.load(await testDevice(), encodeWeights({ ...converted.weights, tensors }, 'F32', converted.metadata), { label: name, batch: golden.batch });
        models.push(model);
        const out = await model.forward(input, { features: true });
        const check = (what: string, got: ArrayLike<number>, f64: number[][], f32: number[][]) => expectWithinTorch(report, `${name} with ${how}`, what, got, f64, f32, factor);
        // The classifier's features are what its head reads: the mean of the post-layernorm tokens.
        if (classes) check('features (token mean)', out.features!, golden.last_hidden_state_mean, golden.last_hidden_state_mean_f32);
        else check('embeddings', out.features!, golden.embeddings, golden.embeddings_f32);
        if (golden.logits) {
          check('logits', out.logits, golden.logits, golden.logits_f32!);
          expect(topK(out.logits, classes, 5).map((r) => r.map((e) => e.index))).toEqual(golden.top5);
        }
      }
      console.log(`${name}: ${report.join('; ')}`);
    });
  }
});

describe('SigLIP conversion refusals', () => {
  it('a tower without its attention-pooling head is refused unless the config says vision_use_head false (then it mean-pools)', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'siglip_vision'));
    const tensors = new Map([...ckpt.tensors].filter(([n]) => !n.startsWith('vision_model.head.')));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors }), ['missing tensor vision_model.head.probe', 'vision_use_head']);
    const c = convertCheckpoint({ ...ckpt, tensors, config: { ...ckpt.config, vision_use_head: false } });
    expect(c.weights.config.pooling).toBe('mean');
    expect(c.notes.join('\n')).toMatch(/no attention-pooling head \(vision_use_head false\)/);
    // Round nine: the string "false" was reported as "does not set vision_use_head false".
    await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors, config: { ...ckpt.config, vision_use_head: 'false' } }), ['vision_use_head must be true or false, got "false"']);
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, vision_use_head: 'no' } }), ['vision_use_head must be true or false, got "no"']);
  });
  it('an activation webvit does not run is refused by name; --layout clip on SigLIP tensors, and siglip on CLIP tensors, say so', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'siglip_vision'));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, config: { ...ckpt.config, hidden_act: 'silu' } }), ['hidden_act is "silu"', 'gelu_pytorch_tanh']);
    await expectConvertError(() => convertCheckpoint(ckpt, { layout: 'clip' }), ["--layout clip, but these tensors are not a CLIP image tower's"]);
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(join(DIR, 'clip_full')), { layout: 'siglip' }), ["--layout siglip, but these tensors are not a SigLIP image tower's"]);
  });
  it('a processor size off the patch grid is refused naming it and the way out', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'siglip_vision'));
    await expectConvertError(() => convertCheckpoint({ ...ckpt, preprocessor: { ...ckpt.preprocessor, size: { height: 50, width: 50 } } }), ['size 50 is not a multiple of the patch size 16', '--image-size']);
    await expectConvertError(() => convertCheckpoint({ ...ckpt, preprocessor: { ...ckpt.preprocessor, size: { height: 64, width: 48 } } }), ['size must be a square of whole pixels']);
  });
  // Round nine: probe × in_proj_weight beyond the weight limit, each within it, was refused only
  // when the output was read back, naming the output file and webvit's pool.query.
  it("a probe whose query (probe through in_proj's query rows) exceeds the weight limit is refused at convert, naming the checkpoint's tensors", async () => {
    const ckpt = await readCheckpoint(join(DIR, 'siglip_vision'));
    const tensors = new Map(ckpt.tensors);
    for (const [name, v] of [['vision_model.head.probe', 9e5], ['vision_model.head.attention.in_proj_weight', 9e5]] as const) {
      const t = tensors.get(name)!;
      const data = new Float32Array(t.shape.reduce((a, d) => a * d, 1)).fill(v);
      tensors.set(name, { ...t, read: () => data.slice() });
    }
    const msg = await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors }), [
      "model.safetensors: the attention-pooling head's query (vision_model.head.probe through the query rows of vision_model.head.attention.in_proj_weight",
      'beyond ±1e+6',
      're-download or re-export it',
    ]);
    expect(msg).not.toContain('pool.query');
  });
  // Round nine: rows of ±9.9e5 (within the limit) that bicubic resizing overshoots past it were
  // refused only on read-back, naming the output file, webvit's pos_embed and nothing of the resize.
  it('position embeddings whose resize overshoots the weight limit are refused at convert, naming the resize and where its size came from', async () => {
    const ckpt = await readCheckpoint(join(DIR, 'siglip_vision'));
    const name = 'vision_model.embeddings.position_embedding.weight';
    const t = ckpt.tensors.get(name)!;
    const [rows, D] = t.shape;
    const data = Float32Array.from({ length: rows * D }, (_, i) => (Math.floor(i / D) % 2 ? -9.9e5 : 9.9e5));
    const tensors = new Map(ckpt.tensors).set(name, { ...t, read: () => data.slice() });
    const msg = await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors }), ['resizing the position embeddings 3x3 -> 4x4 (bicubic, for', 'preprocessor_config.json size 64) gives', 'beyond ±1e+6', 're-download or re-export it']);
    expect(msg).not.toContain('--image-size');
    await expectConvertError(() => convertCheckpoint({ ...ckpt, tensors, preprocessor: undefined }, { imageSize: 80 }), ['(bicubic, for --image-size 80) gives']);
  });
});

describe('SigLIP explain', () => {
  it("the rollout starts from the attention-pooling probe's attention: a distribution over the tokens, carried through every layer's rollout", async () => {
    const dir = join(DIR, 'siglip_vision');
    const converted = convertCheckpoint(await readCheckpoint(dir));
    const input = readInput(dir);
    const one = input.subarray(0, input.length / 3);
    const model = await ViTModel.load(await testDevice(), encodeWeights(converted.weights, 'F32', converted.metadata), { label: 'siglip_explain' });
    models.push(model);
    const e = await model.explain(one);
    expect(e.pooling).toBe('map');
    expect(e.prefix).toBe(0);
    expect(e.source).toMatch(/attention-pooling probe/);
    const T = e.grid * e.grid;
    const probe = e.probe![0];
    expect(probe.length).toBe(T);
    expect(Math.min(...probe)).toBeGreaterThanOrEqual(0);
    expect(Math.abs(probe.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    // The rollout is that row through R_{L−1}…R_0: a distribution too, and not the mean-query one.
    const { rolloutRow } = await import('../../src/model/rollout.js');
    expect(maxAbsDiff(e.rollout[0], [...rolloutRow(e.attention, 0, T, 0, probe)])).toBeLessThan(1e-6);
    expect(Math.abs(e.rollout[0].reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    expect(maxAbsDiff(e.rollout[0], [...rolloutRow(e.attention, 0, T, 0, 'mean')])).toBeGreaterThan(1e-4);
    // (A probe read as zeros would make it uniform, and this rollout the mean-query one: it was, once.)
    const layer = await model.explain(one, { layer: 1 });
    expect(layer.source).toMatch(/layer 1 attention .* attention-pooling probe/);
  });
});
