import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../../src/model/safetensors_write.js';
import type { StandInRepo } from './hub_stand_in.js';

// Hub repos for the stand-in, built from the layout fixtures already in test/fixtures/layouts
// (tools/make_layout_fixtures.py: one seeded ViT, image 32, patch 8, hidden 64, 2 layers, 4 heads,
// MLP 128, 10 classes). Commits are fixed so ETags, commits and cache paths are stable across runs.

const LAYOUTS = join(import.meta.dirname, '..', 'fixtures', 'layouts');

export const GATED_TOKEN = 'hf_testtoken_0123456789';

export const FIXTURE_COMMITS = {
  'webvit-test/vit-tiny': 'ffc4dce1947c18091d75dedffcc66221bfcc229b',
  'webvit-test/vit-tiny-sharded': 'dcd4bd0c417be5fc4c78b4fb669a2eabbb6e3154',
  'timm/vit_tiny_test.augreg_in1k': '0a0c03aa5823aaaf20f2451520d8b25ca3b79b10',
  'webvit-test/vit-gated': 'dfe945320dd70332c6afbf134d8ca0e31ba18e36',
  'webvit-test/vit-bin-only': '20b01d64dbe39a62718bb9eddf9487c35270f6f4',
  'webvit-test/swin-tiny': '14a6d55f38b19cc22c9a2f2c94c1762f603e5dba',
  'google/vit-base-patch16-224': '3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3',
} as const;

/** Python's json.dumps(obj, indent=2) for plain JSON values: ensure_ascii's \\uXXXX escapes included. */
function pythonJson(obj: unknown, sortKeys: boolean): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sortKeys ? sort(obj) : obj, null, 2).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What transformers' to_json_string writes (config and image processor): sorted keys, indent 2, a final newline. */
function transformersJson(obj: unknown): string {
  return pythonJson(obj, true) + '\n';
}

// transformers' ViTImageProcessor as save_pretrained writes it (ImageProcessingMixin.to_json_string:
// sorted keys, indent 2): resize to the model's image size with bilinear (PIL resample 2), rescale
// by 1/255, normalize with mean = std = 0.5 (the ViT defaults).
function vitPreprocessorConfig(imageSize: number): string {
  return transformersJson({
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'ViTImageProcessor',
    image_std: [0.5, 0.5, 0.5],
    resample: 2,
    rescale_factor: 1 / 255,
    size: { height: imageSize, width: imageSize },
  });
}

function modelCard(title: string, library: string, body: string): string {
  return `---\nlibrary_name: ${library}\nlicense: apache-2.0\npipeline_tag: image-classification\ntags:\n- image-classification\n- webvit-test\n---\n\n# ${title}\n\n${body}\n`;
}

// timm's push_to_hf_hub config (timm/models/_hub.py save_config_for_hf): architecture, num_classes,
// num_features, global_pool, label_names, model_args (written when the model was built with
// arguments beyond its registered defaults, as this tiny one is), then pretrained_cfg filtered as
// filter_pretrained_cfg(remove_source=True, remove_null=True) leaves it, in PretrainedCfg's field
// order (tag, custom_load, input_size, fixed_input_size, interpolation, crop_pct, crop_mode, mean,
// std, num_classes, pool_size kept as null, first_conv, classifier, license). Values follow the
// timm_cls checkpoint: pos_embed [1, 17, 64] (cls + 4x4 patches of 8 px: 32 px input), head
// [10, 64], two blocks, fc1 [128, 64]; the head count (4) cannot be read from the shapes, so it is
// the one the fixture was drawn with (golden.json's convert_args --heads 4). Mean and std 0.5 as
// timm's augreg ViT configs (IMAGENET_INCEPTION_MEAN/STD).
function timmConfig(labels: string[]): string {
  const config = {
    architecture: 'vit_tiny_test',
    num_classes: 10,
    num_features: 64,
    global_pool: 'token',
    label_names: labels,
    model_args: { img_size: 32, patch_size: 8, embed_dim: 64, depth: 2, num_heads: 4, mlp_ratio: 2.0 },
    pretrained_cfg: {
      tag: 'augreg_in1k',
      custom_load: false,
      input_size: [3, 32, 32],
      fixed_input_size: true,
      interpolation: 'bicubic',
      crop_pct: 0.9,
      crop_mode: 'center',
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      num_classes: 10,
      pool_size: null,
      first_conv: 'patch_embed.proj',
      classifier: 'head',
      license: 'apache-2.0',
    },
  };
  // json.dump(hf_config, f, indent=2): insertion order, no final newline. Python writes 2.0 where
  // JSON.stringify writes 2.
  return pythonJson(config, false).replace(/"mlp_ratio": 2$/m, '"mlp_ratio": 2.0');
}

/** Deterministic small values in [-0.1, 0.1) (an LCG): the Swin stand-in is for name and shape checks, not accuracy. */
function lcgValues(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

// A two-stage Swin in transformers' SwinForImageClassification names: image 32, patch 4, embed 16,
// depths [1, 1], heads [1, 2], window 4, MLP ratio 2, 10 classes. The int64 buffer
// relative_position_index that real checkpoints carry is left out (writeSafetensors writes floats).
const SWIN = { image: 32, patch: 4, embed: 16, depths: [1, 1], heads: [1, 2], window: 4, mlpRatio: 2, classes: 10 };

function swinTensors(): TensorToWrite[] {
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[]) => {
    tensors.push({ name, shape, data: lcgValues(tensors.length + 1, shape.reduce((a, d) => a * d, 1)) });
  };
  const C0 = SWIN.embed;
  add('swin.embeddings.patch_embeddings.projection.weight', [C0, 3, SWIN.patch, SWIN.patch]); // conv [out, in, kh, kw]
  add('swin.embeddings.patch_embeddings.projection.bias', [C0]);
  add('swin.embeddings.norm.weight', [C0]);
  add('swin.embeddings.norm.bias', [C0]);
  const bias = (2 * SWIN.window - 1) ** 2; // relative positions in a window: (2w-1)^2 rows
  SWIN.depths.forEach((depth, i) => {
    const C = C0 * 2 ** i;
    for (let j = 0; j < depth; j++) {
      const b = `swin.encoder.layers.${i}.blocks.${j}.`;
      add(b + 'layernorm_before.weight', [C]);
      add(b + 'layernorm_before.bias', [C]);
      add(b + 'attention.self.relative_position_bias_table', [bias, SWIN.heads[i]]);
      for (const p of ['query', 'key', 'value']) {
        add(b + `attention.self.${p}.weight`, [C, C]);
        add(b + `attention.self.${p}.bias`, [C]);
      }
      add(b + 'attention.output.dense.weight', [C, C]);
      add(b + 'attention.output.dense.bias', [C]);
      add(b + 'layernorm_after.weight', [C]);
      add(b + 'layernorm_after.bias', [C]);
      add(b + 'intermediate.dense.weight', [C * SWIN.mlpRatio, C]);
      add(b + 'intermediate.dense.bias', [C * SWIN.mlpRatio]);
      add(b + 'output.dense.weight', [C, C * SWIN.mlpRatio]);
      add(b + 'output.dense.bias', [C]);
    }
    if (i < SWIN.depths.length - 1) {
      // patch merging: 2x2 neighbours concatenated [4C] -> norm -> linear to 2C (no bias)
      add(`swin.encoder.layers.${i}.downsample.reduction.weight`, [2 * C, 4 * C]);
      add(`swin.encoder.layers.${i}.downsample.norm.weight`, [4 * C]);
      add(`swin.encoder.layers.${i}.downsample.norm.bias`, [4 * C]);
    }
  });
  const hidden = C0 * 2 ** (SWIN.depths.length - 1);
  add('swin.layernorm.weight', [hidden]);
  add('swin.layernorm.bias', [hidden]);
  add('classifier.weight', [SWIN.classes, hidden]);
  add('classifier.bias', [SWIN.classes]);
  return tensors;
}

function swinConfig(labels: string[]): string {
  const hidden = SWIN.embed * 2 ** (SWIN.depths.length - 1);
  return transformersJson({
    architectures: ['SwinForImageClassification'],
    model_type: 'swin',
    attention_probs_dropout_prob: 0.0,
    depths: SWIN.depths,
    drop_path_rate: 0.1,
    embed_dim: SWIN.embed,
    encoder_stride: 32,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    hidden_size: hidden,
    image_size: SWIN.image,
    initializer_range: 0.02,
    layer_norm_eps: 1e-5,
    mlp_ratio: SWIN.mlpRatio,
    num_channels: 3,
    num_heads: SWIN.heads,
    num_layers: SWIN.depths.length,
    patch_size: SWIN.patch,
    path_norm: true,
    qkv_bias: true,
    use_absolute_embeddings: false,
    window_size: SWIN.window,
    torch_dtype: 'float32',
    transformers_version: '4.40.0',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  });
}

// A pickle-in-zip torch checkpoint starts with a zip local file header ("PK\3\4"); the rest here is
// filler: enough for a client to recognise the format and refuse it.
function zipMagicBlob(): Uint8Array {
  const name = new TextEncoder().encode('archive/data.pkl');
  const out = new Uint8Array(30 + name.length + 16);
  out.set([0x50, 0x4b, 0x03, 0x04], 0);
  out[26] = name.length;
  out.set(name, 30);
  return out;
}

/** The test repos; see the comments above for how each file was made. */
export async function hubRepoFixtures(): Promise<StandInRepo[]> {
  const read = async (...p: string[]) => new Uint8Array(await readFile(join(LAYOUTS, ...p)));
  const labels = (await readFile(join(LAYOUTS, 'labels.txt'), 'utf8')).split('\n').filter((l) => l !== '');
  const hfConfig = await read('hf', 'config.json');
  const imageSize = (JSON.parse(new TextDecoder().decode(hfConfig)) as { image_size: number }).image_size;
  const vitTinyFiles = {
    'config.json': hfConfig,
    'model.safetensors': await read('hf', 'model.safetensors'),
    'preprocessor_config.json': vitPreprocessorConfig(imageSize),
    'README.md': modelCard('vit-tiny', 'transformers', 'A 2-layer ViT (hidden 64, 4 heads, 32 px, patch 8) with seeded weights, for webvit\'s tests.'),
  };
  const sharded = ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  return [
    { id: 'webvit-test/vit-tiny', files: vitTinyFiles, commit: FIXTURE_COMMITS['webvit-test/vit-tiny'], tags: ['v1.0'], renamedFrom: 'webvit-test/vit-tiny-old' },
    {
      id: 'webvit-test/vit-tiny-sharded',
      files: Object.fromEntries(await Promise.all(sharded.map(async (f) => [f, await read('hf_sharded', f)] as const))),
      commit: FIXTURE_COMMITS['webvit-test/vit-tiny-sharded'],
    },
    {
      id: 'timm/vit_tiny_test.augreg_in1k',
      files: {
        'config.json': timmConfig(labels),
        'model.safetensors': await read('timm_cls', 'model.safetensors'),
        'README.md': modelCard('vit_tiny_test.augreg_in1k', 'timm', 'The timm_cls layout fixture as timm\'s push_to_hf_hub would publish it.'),
      },
      commit: FIXTURE_COMMITS['timm/vit_tiny_test.augreg_in1k'],
    },
    // The README's examples name the real model; here the id holds the tiny one (its layout, not its weights).
    { id: 'google/vit-base-patch16-224', files: vitTinyFiles, commit: FIXTURE_COMMITS['google/vit-base-patch16-224'] },
    { id: 'webvit-test/vit-gated', files: vitTinyFiles, commit: FIXTURE_COMMITS['webvit-test/vit-gated'], gated: { token: GATED_TOKEN } },
    {
      id: 'webvit-test/vit-bin-only',
      files: { 'config.json': hfConfig, 'pytorch_model.bin': zipMagicBlob() },
      commit: FIXTURE_COMMITS['webvit-test/vit-bin-only'],
    },
    {
      id: 'webvit-test/swin-tiny',
      files: { 'config.json': swinConfig(labels), 'model.safetensors': writeSafetensors(swinTensors(), { format: 'pt' }) },
      commit: FIXTURE_COMMITS['webvit-test/swin-tiny'],
    },
  ];
}
