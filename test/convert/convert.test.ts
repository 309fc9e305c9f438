import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkpointFromArrays,
  convertCheckpoint,
  detectLayout,
  encodeWeights,
  listNames,
  type Checkpoint,
  type ConvertOptions,
  type SourceTensor,
} from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { readWeights } from '../../src/model/weights.js';
import { rng, randn } from '../helpers/random.js';
import { expectConvertError, fixtureCheckpoint, LAYOUT_DIR } from './layout_fixtures.js';

// Name mapping, config reading/inference and every refusal of the converter, on the CPU: the
// layout fixtures (tools/make_layout_fixtures.py) plus small synthetic checkpoints.

const tmp = mkdtempSync(join(tmpdir(), 'webvit-convert-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of a checkpoint with its tensors edited (delete, add, replace). */
function edit(ck: Checkpoint, fn: (t: Map<string, SourceTensor>) => void, config = ck.config): Checkpoint {
  const tensors = new Map(ck.tensors);
  fn(tensors);
  return { ...ck, tensors, config: config ? structuredClone(config) : undefined };
}

const tensor = (name: string, shape: number[], data?: Float32Array): SourceTensor => {
  const n = shape.reduce((a, d) => a * d, 1);
  const values = data ?? randn(rng(n + name.length), n);
  return { name, dtype: 'F32', shape, file: 'synthetic', read: () => values.slice() };
};

/** A small random timm ViT: hidden D, L blocks, MLP F, grid×grid patches of P px, 3 channels. */
function synthTimm(o: { D: number; L?: number; F?: number; P?: number; grid?: number; classes?: number; noEmbedClass?: boolean }): Checkpoint {
  const { D, L = 1, F = 8, P = 2, grid = 2, classes = 3 } = o;
  const r = rng(D * 7 + L);
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  const add = (name: string, shape: number[]) => (t[name] = { shape, data: randn(r, shape.reduce((a, d) => a * d, 1)) });
  add('patch_embed.proj.weight', [D, 3, P, P]);
  add('patch_embed.proj.bias', [D]);
  add('cls_token', [1, 1, D]);
  add('pos_embed', [1, (o.noEmbedClass ? 0 : 1) + grid * grid, D]);
  for (let i = 0; i < L; i++) {
    const p = `blocks.${i}.`;
    for (const n of ['norm1', 'norm2']) {
      add(`${p}${n}.weight`, [D]);
      add(`${p}${n}.bias`, [D]);
    }
    add(`${p}attn.qkv.weight`, [3 * D, D]);
    add(`${p}attn.qkv.bias`, [3 * D]);
    add(`${p}attn.proj.weight`, [D, D]);
    add(`${p}attn.proj.bias`, [D]);
    add(`${p}mlp.fc1.weight`, [F, D]);
    add(`${p}mlp.fc1.bias`, [F]);
    add(`${p}mlp.fc2.weight`, [D, F]);
    add(`${p}mlp.fc2.bias`, [D]);
  }
  add('norm.weight', [D]);
  add('norm.bias', [D]);
  add('head.weight', [classes, D]);
  add('head.bias', [classes]);
  return checkpointFromArrays('synthetic-timm', t);
}

const read = (ck: Checkpoint, name: string) => ck.tensors.get(name)!.read();

describe('layouts map to the same canonical tensors', () => {
  it('hf, hf sharded, timm, torchvision and timm avg-pool give bitwise the same weights as torchvision', async () => {
    const ref = convertCheckpoint(await fixtureCheckpoint('torchvision'), { heads: 4 }).weights;
    for (const [name, opts] of [
      ['hf', {}],
      ['hf_sharded', {}],
      ['timm_cls', { heads: 4 }],
      ['timm_avg', { heads: 4 }],
      ['hf_vitmodel', {}],
    ] as [string, ConvertOptions][]) {
      const w = convertCheckpoint(await fixtureCheckpoint(name), opts).weights;
      const names = [...w.tensors.keys()];
      expect(names, name).toEqual([...ref.tensors.keys()].filter((n) => name !== 'hf_vitmodel' || !n.startsWith('head.')));
      for (const n of names) expect(w.tensors.get(n), `${name}: ${n}`).toEqual(ref.tensors.get(n));
    }
  });

  it('transposes linear weights to [in, out], fuses QKV in q, k, v order and flattens the conv as k = c·P·P + ky·P + kx', async () => {
    const tv = await fixtureCheckpoint('torchvision');
    const w = convertCheckpoint(tv, { heads: 4 }).weights.tensors;
    const D = 64;
    const inProj = read(tv, 'encoder.layers.encoder_layer_1.self_attention.in_proj_weight'); // [3D, D]
    const qkv = w.get('blocks.1.attn.qkv.weight')!; // [D, 3D]
    for (const [j, k] of [[0, 0], [5, 63], [70, 3], [130, 17], [191, 63]]) expect(qkv[k * 3 * D + j]).toBe(inProj[j * D + k]);
    const conv = read(tv, 'conv_proj.weight'); // [D, 3, 8, 8]
    const pe = w.get('patch_embed.weight')!; // [192, D]
    for (const [d, c, ky, kx] of [[0, 0, 0, 0], [7, 2, 3, 5], [63, 1, 7, 7]]) {
      expect(pe[(c * 64 + ky * 8 + kx) * D + d]).toBe(conv[((d * 3 + c) * 8 + ky) * 8 + kx]);
    }
    const hf = await fixtureCheckpoint('hf');
    const hq = convertCheckpoint(hf).weights.tensors.get('blocks.0.attn.qkv.bias')!;
    expect(hq.subarray(D, 2 * D)).toEqual(read(hf, 'vit.encoder.layer.0.attention.attention.key.bias'));
  });

  it('DeiT: one head on [class; distillation] = 0.5·[W_headᵀ; W_distᵀ], bias 0.5·(b + b_dist)', async () => {
    const ck = await fixtureCheckpoint('deit');
    const w = convertCheckpoint(ck, { heads: 4 }).weights;
    expect(w.config.distilled).toBe(true);
    const [D, C] = [64, 10];
    const head = w.tensors.get('head.weight')!;
    const wh = read(ck, 'head.weight');
    const wd = read(ck, 'head_dist.weight');
    for (const [c, r] of [[0, 0], [9, 63], [4, 17]]) {
      expect(head[r * C + c]).toBe(0.5 * wh[c * D + r]);
      expect(head[(D + r) * C + c]).toBe(0.5 * wd[c * D + r]);
    }
    const b = w.tensors.get('head.bias')!;
    expect(b[3]).toBe(Math.fround(0.5 * (read(ck, 'head.bias')[3] + read(ck, 'head_dist.bias')[3])));
    expect(w.tensors.get('pos_embed')!.length).toBe((2 + 16) * D);
  });

  it('timm: fc_norm means mean pooling with the final norm from fc_norm; no class token means mean pooling', async () => {
    const avg = convertCheckpoint(await fixtureCheckpoint('timm_avg'), { heads: 4 });
    expect(avg.weights.config).toMatchObject({ pooling: 'mean', fc_norm: true, class_token: true });
    expect(avg.notes.join('\n')).toContain('fc_norm');
    const nocls = convertCheckpoint(await fixtureCheckpoint('timm_avg_nocls'), { heads: 4 });
    expect(nocls.weights.config).toMatchObject({ pooling: 'mean', fc_norm: true, class_token: false });
    expect(nocls.weights.tensors.has('cls_token')).toBe(false);
    // --pooling mean on a class-token model without fc_norm: norm, then mean (timm global_pool='avg', fc_norm=False)
    const mean = convertCheckpoint(await fixtureCheckpoint('timm_cls'), { heads: 4, pooling: 'mean' });
    expect(mean.weights.config).toMatchObject({ pooling: 'mean', fc_norm: false, class_token: true });
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('timm_avg_nocls'), { heads: 4, pooling: 'cls' }), ['--pooling cls', 'class token']);
  });

  it('torchvision: the old mlp.linear_1 / mlp.linear_2 names convert the same', async () => {
    const tv = await fixtureCheckpoint('torchvision');
    const old = edit(tv, (t) => {
      for (const [n, v] of [...t]) {
        const m = n.replace('.mlp.0.', '.mlp.linear_1.').replace('.mlp.3.', '.mlp.linear_2.');
        if (m !== n) {
          t.delete(n);
          t.set(m, { ...v, name: m });
        }
      }
    });
    expect(convertCheckpoint(old, { heads: 4 }).weights.tensors).toEqual(convertCheckpoint(tv, { heads: 4 }).weights.tensors);
  });

  it('timm layer scale is folded into attn.proj and mlp.fc2 (column j times gamma[j])', () => {
    const D = 8;
    const base = synthTimm({ D });
    const g1 = Float32Array.from({ length: D }, (_, i) => 0.1 * (i + 1));
    const g2 = Float32Array.from({ length: D }, (_, i) => -0.05 * (i + 1));
    const ls = edit(base, (t) => {
      t.set('blocks.0.ls1.gamma', tensor('blocks.0.ls1.gamma', [D], g1));
      t.set('blocks.0.ls2.gamma', tensor('blocks.0.ls2.gamma', [D], g2));
    });
    const a = convertCheckpoint(base, { heads: 2 });
    const b = convertCheckpoint(ls, { heads: 2 });
    expect(b.notes.join('\n')).toContain('layer scale');
    const [pa, pb] = [a.weights.tensors.get('blocks.0.attn.proj.weight')!, b.weights.tensors.get('blocks.0.attn.proj.weight')!];
    for (let r = 0; r < D; r++) for (let c = 0; c < D; c++) expect(pb[r * D + c]).toBe(Math.fround(pa[r * D + c] * g1[c]));
    const [fa, fb] = [a.weights.tensors.get('blocks.0.mlp.fc2.bias')!, b.weights.tensors.get('blocks.0.mlp.fc2.bias')!];
    for (let c = 0; c < D; c++) expect(fb[c]).toBe(Math.fround(fa[c] * g2[c]));
  });

  // A layer scale and a weight each within the limits whose product is not: it was refused only
  // when the output was loaded, naming webvit's fused blocks.0.attn.proj.weight.
  it('timm layer scale whose fold exceeds the weight limit: refused naming ls1.gamma and attn.proj by their checkpoint names, with the index and what to do', async () => {
    const D = 8;
    const ck = edit(synthTimm({ D }), (t) => {
      t.set('blocks.0.ls1.gamma', tensor('blocks.0.ls1.gamma', [D], new Float32Array(D).fill(1)));
      t.set('blocks.0.ls2.gamma', tensor('blocks.0.ls2.gamma', [D], Float32Array.from({ length: D }, (_, i) => (i === 5 ? 9e5 : 1))));
      t.set('blocks.0.mlp.fc2.weight', tensor('blocks.0.mlp.fc2.weight', [D, 8], new Float32Array(D * 8).fill(0.5)));
      t.set('blocks.0.mlp.fc2.bias', tensor('blocks.0.mlp.fc2.bias', [D], new Float32Array(D).fill(3)));
    });
    const msg = await expectConvertError(() => convertCheckpoint(ck, { heads: 2 }), [
      'synthetic: folding the layer scale blocks.0.ls2.gamma into blocks.0.mlp.fc2.bias gives 2700000',
      'blocks.0.mlp.fc2.bias[5] 3 × blocks.0.ls2.gamma[5] 900000',
      'beyond ±1e+6',
      're-download or re-export it',
    ]);
    expect(msg).not.toContain('blocks.0.attn.proj');
  });

  it('timm no_embed_class (pos_embed over the patches only): zero position rows for the prefix tokens', () => {
    const D = 8;
    const ck = synthTimm({ D, grid: 3, noEmbedClass: true });
    const r = convertCheckpoint(ck, { heads: 2 });
    const pos = r.weights.tensors.get('pos_embed')!;
    expect(pos.length).toBe(10 * D);
    expect([...pos.subarray(0, D)]).toEqual(new Array(D).fill(0));
    expect(pos.subarray(D)).toEqual(read(ck, 'pos_embed'));
    expect(r.notes.join('\n')).toContain('no_embed_class');
  });
});

describe('config: read, inferred, assumed', () => {
  it('hf reads config.json (eps, heads, qkv_bias) and carries id2label', async () => {
    const r = convertCheckpoint(await fixtureCheckpoint('hf'));
    expect(r.weights.config).toMatchObject({ num_heads: 4, layer_norm_eps: 1e-6, image_size: 32, mlp_size: 128 });
    expect(r.weights.labels?.[9]).toBe('café au lait');
    expect(r.weights.labels?.[4]).toBe('hammerhead, shark');
    // Labels survive the file (UTF-8 metadata).
    expect(readWeights(encodeWeights(r.weights), 'x').labels).toEqual(r.weights.labels);
  });

  it('hf without config.json: inferred from shapes, eps 1e-12 assumed and said so, heads needed', async () => {
    const ck = { ...(await fixtureCheckpoint('hf')), config: undefined, configSource: undefined };
    await expectConvertError(() => convertCheckpoint(ck), ['number of attention heads', '--heads N']);
    const r = convertCheckpoint(ck, { heads: 4 });
    expect(r.weights.config).toMatchObject({ layer_norm_eps: 1e-12, image_size: 32, num_layers: 2, num_heads: 4 });
    expect(r.notes.join('\n')).toMatch(/ASSUMED layer_norm_eps 1e-12/);
    expect(r.weights.labels).toBeUndefined();
  });

  it('hf: the ViTModel pooler and mask token are dropped by rule, and said so', async () => {
    const r = convertCheckpoint(await fixtureCheckpoint('hf_vitmodel'));
    expect(r.weights.config.num_classes).toBe(0);
    expect(r.notes.join('\n')).toContain('dropped pooler.dense.weight, pooler.dense.bias');
    const withMask = edit(await fixtureCheckpoint('hf_vitmodel'), (t) => t.set('embeddings.mask_token', tensor('embeddings.mask_token', [1, 1, 64])));
    expect(convertCheckpoint(withMask).notes.join('\n')).toContain('embeddings.mask_token');
  });

  it('hf: a config.json that contradicts the tensors names the mis-shaped tensors', async () => {
    const ck = await fixtureCheckpoint('hf');
    await expectConvertError(() => convertCheckpoint(edit(ck, () => {}, { ...ck.config, intermediate_size: 256 })), [
      'mis-shaped',
      'vit.encoder.layer.0.intermediate.dense.weight is [128, 64], expected [256, 64]',
    ]);
    await expectConvertError(() => convertCheckpoint(edit(ck, () => {}, { ...ck.config, num_hidden_layers: 3 })), ['missing tensor(s)', 'vit.encoder.layer.2.']);
    await expectConvertError(() => convertCheckpoint(ck, { heads: 8 }), ['--heads 8 contradicts', 'num_attention_heads', '(4 heads)']);
    await expectConvertError(() => convertCheckpoint(edit(ck, () => {}, { ...ck.config, hidden_act: 'gelu_new' })), ['hidden_act', 'gelu_new']);
  });

  it('timm/torchvision: heads from --heads, else the standard count for the hidden size (ASSUMED, said), else an error asking for --heads', async () => {
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('timm_cls')), ['cannot infer the number of attention heads', 'hidden size 64', '--heads N']);
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('torchvision')), ['--heads N']);
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('timm_cls'), { heads: 5 }), ['--heads 5 does not divide the hidden size 64']);
    const r = convertCheckpoint(synthTimm({ D: 192 }));
    expect(r.weights.config.num_heads).toBe(3);
    expect(r.notes.join('\n')).toMatch(/ASSUMED num_heads 3: the standard count for hidden size 192/);
    expect(r.notes.join('\n')).toContain('layer_norm_eps 1e-6');
  });

  it('--image-size must be a multiple of the patch size', async () => {
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('timm_cls'), { heads: 4, imageSize: 36 }), ['--image-size 36', 'patch size 8']);
  });
});

describe('refusals name the tensors', () => {
  it('a missing tensor', async () => {
    const ck = edit(await fixtureCheckpoint('timm_cls'), (t) => t.delete('blocks.1.mlp.fc2.bias'));
    await expectConvertError(() => convertCheckpoint(ck, { heads: 4 }), ['as a timm checkpoint', 'missing tensor(s) blocks.1.mlp.fc2.bias']);
  });

  it('extra tensors: every one named (numbered blocks grouped)', async () => {
    const ck = edit(await fixtureCheckpoint('timm_cls'), (t) => {
      for (const n of ['blocks.0.attn.q_norm.weight', 'blocks.1.attn.q_norm.weight', 'reg_token']) t.set(n, tensor(n, [64]));
    });
    await expectConvertError(() => convertCheckpoint(ck, { heads: 4 }), ['unused tensor(s) reg_token, blocks.{0-1}.attn.q_norm.weight']);
    const hf = edit(await fixtureCheckpoint('hf'), (t) => t.set('vit.encoder.layer.1.foo.weight', tensor('x', [2])));
    await expectConvertError(() => convertCheckpoint(hf), ['unused tensor(s) vit.encoder.layer.1.foo.weight']);
    const tv = edit(await fixtureCheckpoint('torchvision'), (t) => t.set('heads.pre_logits.weight', tensor('x', [64, 64])));
    await expectConvertError(() => convertCheckpoint(tv, { heads: 4 }), ['unused tensor(s) heads.pre_logits.weight']);
  });

  it('a mis-shaped tensor, with expected and actual shapes', async () => {
    const ck = edit(await fixtureCheckpoint('torchvision'), (t) => t.set('encoder.layers.encoder_layer_0.ln_2.weight', tensor('x', [63])));
    await expectConvertError(() => convertCheckpoint(ck, { heads: 4 }), ['encoder.layers.encoder_layer_0.ln_2.weight is [63], expected [64]']);
  });

  it('missing, mis-shaped and unused together in one line', async () => {
    const ck = edit(await fixtureCheckpoint('hf'), (t) => {
      t.delete('vit.layernorm.bias');
      t.set('classifier.bias', tensor('x', [11]));
      t.set('vit.extra', tensor('x', [1]));
    });
    await expectConvertError(() => convertCheckpoint(ck), ['missing tensor(s) vit.layernorm.bias', 'classifier.bias is [11], expected [10]', 'unused tensor(s) vit.extra']);
  });

  // A NaN / Inf / huge value in the source is named by its source tensor (the webvit name would
  // be a fused or transposed tensor the user never saw), with the flat index in the source layout.
  it('a non-finite or overflowing source weight: refused naming the source tensor, its file and the index', async () => {
    const name = 'vit.encoder.layer.1.attention.attention.key.weight';
    for (const value of [NaN, Infinity, -3e38]) {
      const ck = await fixtureCheckpoint('hf');
      const data = read(ck, name);
      data[777] = value;
      await expectConvertError(() => convertCheckpoint(edit(ck, (t) => t.set(name, { ...t.get(name)!, read: () => data.slice() }))), [
        `tensor ${name}`,
        'model.safetensors',
        'index 777',
        String(value),
      ]);
    }
  });

  // Round eight: an F64 value beyond float32's range read as Infinity ("holds Infinity"), not as the value the file holds.
  it('an F64 source value beyond float32 is named as the file holds it', async () => {
    const f = join(tmp, 'f64.safetensors');
    const { writeRaw } = await import('../helpers/weight_file.js');
    const data = new Float64Array([0.5, 1e300]);
    writeFileSync(f, writeRaw([{ name: 'x', dtype: 'F64', shape: [2], data: new Uint8Array(data.buffer) }], {}));
    const ck = await readCheckpoint(f);
    await expectConvertError(() => ck.tensors.get('x')!.read(), ['tensor x holds 1e+300 at flat index 1 (F64, shape [2]): beyond float32\'s range']);
  });

  it('an unknown layout names what it saw and the supported layouts', async () => {
    const ck = checkpointFromArrays('mystery.safetensors', { 'backbone.stem.weight': { shape: [2], data: [1, 2] }, 'fc.weight': { shape: [1], data: [0] } });
    await expectConvertError(() => convertCheckpoint(ck), ['mystery.safetensors', 'unknown checkpoint layout', '2 tensors: backbone.stem.weight, fc.weight', 'supported layouts: hf', 'timm', 'torchvision']);
    // --layout forces a layout; the mapping then names what is missing.
    await expectConvertError(() => convertCheckpoint(ck, { layout: 'timm', heads: 1 }), ['patch_embed.proj.weight must be [D, C, P, P]']);
  });

  it('a --layout the tensor names contradict says which layout they fit (round twelve)', async () => {
    const hf = await fixtureCheckpoint('hf');
    await expectConvertError(() => convertCheckpoint(hf, { layout: 'timm' }), ["--layout timm, but these tensors are a hf checkpoint's (detected from the names), not timm's; leave --layout out"]);
    await expectConvertError(() => convertCheckpoint(hf, { layout: 'webvit' }), ["--layout webvit, but these tensors are a hf checkpoint's (detected from the names), not a webvit file; leave --layout out"]);
    const timm = await fixtureCheckpoint('timm_cls');
    await expectConvertError(() => convertCheckpoint(timm, { layout: 'torchvision', heads: 4 }), ["--layout torchvision, but these tensors are a timm checkpoint's"]);
    // The right one still converts.
    expect(convertCheckpoint(timm, { layout: 'timm', heads: 4 }).layout).toBe('timm');
  });

  it('timm structure errors: both norm and fc_norm, dist_token without head_dist', async () => {
    const both = edit(await fixtureCheckpoint('timm_avg'), (t) => {
      t.set('norm.weight', tensor('norm.weight', [64]));
      t.set('norm.bias', tensor('norm.bias', [64]));
    });
    await expectConvertError(() => convertCheckpoint(both, { heads: 4 }), ['both norm.* and fc_norm.*']);
    const deit = edit(await fixtureCheckpoint('deit'), (t) => t.delete('head_dist.weight'));
    await expectConvertError(() => convertCheckpoint(deit, { heads: 4 }), ['head_dist']);
  });

  it('detects each layout from the names', async () => {
    for (const [name, layout] of [['hf', 'hf'], ['hf_vitmodel', 'hf'], ['timm_avg_nocls', 'timm'], ['deit', 'timm'], ['torchvision', 'torchvision']]) {
      expect(detectLayout(await fixtureCheckpoint(name)), name).toBe(layout);
    }
  });

  it('listNames groups numbered blocks into ranges', () => {
    expect(listNames(['a', 'blocks.0.x', 'blocks.1.x', 'blocks.2.x', 'blocks.5.x', 'blocks.3.y'])).toBe('a, blocks.{0-2,5}.x, blocks.3.y');
    // A checkpoint of another architecture can have hundreds of names: 40, then a count.
    const many = Array.from({ length: 300 }, (_, i) => `stage${i}_weight`);
    expect(listNames(many)).toBe(`${many.slice(0, 40).join(', ')}, and 260 more`);
  });
});

describe('labels', () => {
  it('--labels overrides id2label and must match the class count; no labels for a model without a classifier', async () => {
    const labels = Array.from({ length: 10 }, (_, i) => `L${i}`);
    const r = convertCheckpoint(await fixtureCheckpoint('hf'), { labels, labelsSource: 'my.txt' });
    expect(r.weights.labels).toEqual(labels);
    expect(r.notes.join('\n')).toContain('labels: 10 from my.txt');
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('torchvision'), { heads: 4, labels: labels.slice(1), labelsSource: 'short.txt' }), [
      'short.txt has 9 labels but the classifier has 10 classes',
    ]);
    await expectConvertError(async () => convertCheckpoint(await fixtureCheckpoint('hf_vitmodel'), { labels }), ['no classifier', 'do not apply']);
  });

  it('timm: label_names from a timm hub config.json', async () => {
    const ck = { ...(await fixtureCheckpoint('timm_cls')), config: { architecture: 'vit_tiny', label_names: Array.from({ length: 10 }, (_, i) => `n${i}`) }, configSource: 'cfg.json' };
    const r = convertCheckpoint(ck, { heads: 4 });
    expect(r.weights.labels?.[3]).toBe('n3');
    expect(r.notes.join('\n')).toContain('labels: 10 from cfg.json label_names');
  });

  it('an id2label that does not fit the classifier is an error that says to pass --labels', async () => {
    const ck = await fixtureCheckpoint('hf');
    const cfg = { ...ck.config, id2label: { 0: 'a', 1: 'b' } };
    await expectConvertError(() => convertCheckpoint(edit(ck, () => {}, cfg)), ['id2label has 2 labels but the classifier has 10 classes', '--labels']);
    await expectConvertError(() => convertCheckpoint(edit(ck, () => {}, { ...ck.config, id2label: { 0: 'a', 2: 'b' } })), ['id2label ids must be 0..1']);
  });
});

describe('files', () => {
  it('reads a folder, the model.safetensors inside it, or the shard index', async () => {
    const a = convertCheckpoint(await readCheckpoint(join(LAYOUT_DIR, 'hf'))).weights.tensors;
    const b = convertCheckpoint(await readCheckpoint(join(LAYOUT_DIR, 'hf', 'model.safetensors'))).weights.tensors;
    const c = convertCheckpoint(await readCheckpoint(join(LAYOUT_DIR, 'hf_sharded', 'model.safetensors.index.json'))).weights.tensors;
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('a shard index naming a missing shard or a tensor a shard lacks', async () => {
    const dir = join(tmp, 'shards');
    mkdirSync(dir);
    for (const f of ['config.json', 'model-00001-of-00002.safetensors', 'model.safetensors.index.json']) copyFileSync(join(LAYOUT_DIR, 'hf_sharded', f), join(dir, f));
    await expectConvertError(() => readCheckpoint(dir), ['model-00002-of-00002.safetensors', 'cannot read', 'ENOENT']);
    copyFileSync(join(LAYOUT_DIR, 'hf_sharded', 'model-00002-of-00002.safetensors'), join(dir, 'model-00002-of-00002.safetensors'));
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['vit.layernorm.weight'] = 'model-00001-of-00002.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await expectConvertError(() => readCheckpoint(dir), ['vit.layernorm.weight']);
  });

  it('pickled PyTorch files and non-safetensors files are refused with what to do', async () => {
    const dir = join(tmp, 'pickled');
    mkdirSync(dir);
    writeFileSync(join(dir, 'pytorch_model.bin'), 'PK');
    await expectConvertError(() => readCheckpoint(dir), ['pytorch_model.bin', 'safetensors only']);
    await expectConvertError(() => readCheckpoint(join(dir, 'pytorch_model.bin')), ['pickled PyTorch file']);
    await expectConvertError(() => readCheckpoint(join(LAYOUT_DIR, 'hf', 'input.bin')), ['input.bin', 'not a safetensors file']);
    await expectConvertError(() => readCheckpoint(join(tmp, 'nope')), ['cannot read the checkpoint', 'ENOENT']);
  });

  it('a webvit file re-encodes (e.g. to F16) with its config and labels', async () => {
    const src = convertCheckpoint(await fixtureCheckpoint('hf')).weights;
    const path = join(tmp, 'w.safetensors');
    writeFileSync(path, encodeWeights(src));
    const r = convertCheckpoint(await readCheckpoint(path));
    expect(r.layout).toBe('webvit');
    expect(r.weights.config).toEqual(src.config);
    expect(r.weights.labels).toEqual(src.labels);
    expect(r.weights.tensors).toEqual(src.tensors);
    // Its other metadata is kept, except a preprocess crop that no longer fits a new image size.
    const pre = JSON.stringify({ resize: null, crop: 32 });
    writeFileSync(path, encodeWeights(src, 'F32', { 'webvit.preprocess': pre }));
    expect(convertCheckpoint(await readCheckpoint(path)).metadata).toEqual({ 'webvit.preprocess': pre });
    const resized = convertCheckpoint(await readCheckpoint(path), { imageSize: 48 });
    expect(resized.metadata).toEqual({});
    expect(resized.notes.join('\n')).toContain('dropped webvit.preprocess');
  });
});
