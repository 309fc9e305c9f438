import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { presetConfig, shapeOf, VIT_PRESETS, type ViTConfig, type ViTPresetName } from '../../src/model/config.js';
import { declaredWeights, expectedTensors } from '../../src/model/weights.js';
import type { BeitConfig } from '../../src/model/families/beit/model.js';
import { configArb } from '../fuzz/models_helpers.js';

// Issue 19, "one model definition": the graph builder declares each weight it reads (name, shape,
// matrix or not), and the list of tensors a weight file holds, their shapes and which may be
// stored as halves are read from that declaration. Here the declaration is held to the weight
// format as docs/weights-format.md writes it out (the list below, written from the document, the
// way expectedTensors was written by hand before), in the canonical order, for the presets and
// for generated configs of every kind (class/distillation tokens, mean pooling, fc_norm, no
// classifier, qkv bias or not).

/** docs/weights-format.md, "Tensors", as a list: name, shape, read by a matmul. */
function documentedWeights(c: ViTConfig): [string, number[], boolean][] {
  const D = c.hidden_size;
  const F = c.mlp_size;
  const s = shapeOf(c);
  const out: [string, number[], boolean][] = [
    ['patch_embed.weight', [s.patchInner, D], true],
    ['patch_embed.bias', [D], false],
  ];
  if (c.class_token) out.push(['cls_token', [D], false]);
  if (c.distilled) out.push(['dist_token', [D], false]);
  if (c.register_tokens) out.push(['register_tokens', [c.register_tokens, D], false]);
  out.push(['pos_embed', [s.tokens, D], false]);
  if (c.pre_norm) out.push(['pre_norm.weight', [D], false], ['pre_norm.bias', [D], false]);
  for (let i = 0; i < c.num_layers; i++) {
    const p = `blocks.${i}`;
    out.push([`${p}.norm1.weight`, [D], false], [`${p}.norm1.bias`, [D], false], [`${p}.attn.qkv.weight`, [D, 3 * D], true]);
    if (c.qkv_bias) out.push([`${p}.attn.qkv.bias`, [3 * D], false]);
    // BEiT's relative position bias [H, T, T]: each block's own, or the shared one (declared by the first block).
    if ((c as BeitConfig).rel_pos_bias === 'layer') out.push([`${p}.attn.rel_pos_bias`, [c.num_heads, s.tokens, s.tokens], false]);
    if ((c as BeitConfig).rel_pos_bias === 'shared' && i === 0) out.push(['rel_pos_bias', [c.num_heads, s.tokens, s.tokens], false]);
    out.push(
      [`${p}.attn.proj.weight`, [D, D], true],
      [`${p}.attn.proj.bias`, [D], false],
      [`${p}.norm2.weight`, [D], false],
      [`${p}.norm2.bias`, [D], false],
      // mlp "swiglu": fc1 holds both halves [x1 | x2], 2F wide.
      [`${p}.mlp.fc1.weight`, [D, c.mlp ? 2 * F : F], true],
      [`${p}.mlp.fc1.bias`, [c.mlp ? 2 * F : F], false],
      [`${p}.mlp.fc2.weight`, [F, D], true],
      [`${p}.mlp.fc2.bias`, [D], false],
    );
  }
  out.push(['norm.weight', [D], false], ['norm.bias', [D], false]);
  if (c.pooling === 'map') {
    // SigLIP's attention-pooling head.
    out.push(
      ['pool.kv.weight', [D, 2 * D], true],
      ['pool.kv.bias', [2 * D], false],
      ['pool.query', [D], false],
      ['pool.proj.weight', [D, D], true],
      ['pool.proj.bias', [D], false],
      ['pool.norm.weight', [D], false],
      ['pool.norm.bias', [D], false],
      ['pool.mlp.fc1.weight', [D, F], true],
      ['pool.mlp.fc1.bias', [F], false],
      ['pool.mlp.fc2.weight', [F, D], true],
      ['pool.mlp.fc2.bias', [D], false],
    );
  }
  if (c.projection_size) out.push(['proj.weight', [s.pooledSize, c.projection_size], true]);
  if (c.num_classes > 0) out.push(['head.weight', [s.featureSize, c.num_classes], true], ['head.bias', [c.num_classes], false]);
  if (c.num_classes > 0 && c.pooling === 'cls+mean') out.push(['head.mean_weight', [D, c.num_classes], true]);
  return out;
}

const asList = (c: ViTConfig) => [...declaredWeights(c)].map(([name, d]) => [name, d.shape, d.matrix]);

describe('the graph declares the weights', () => {
  for (const name of Object.keys(VIT_PRESETS) as ViTPresetName[]) {
    it(`${name}: the documented tensors, shapes and matrices, in the canonical order`, () => {
      const c = presetConfig(name);
      expect(asList(c)).toEqual(documentedWeights(c));
      expect([...expectedTensors(c)]).toEqual(documentedWeights(c).map(([n, s]) => [n, s]));
    });
  }

  it('generated configs of every kind (fast-check; the seed is printed on failure)', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        expect(asList(c)).toEqual(documentedWeights(c));
      }),
      { numRuns: 300 },
    );
  });

  it('a config at the layer limit declares its thousands of weights quickly', () => {
    const c = presetConfig('vit_tiny_patch16_224', { num_layers: 1024 });
    const t0 = performance.now();
    const n = declaredWeights(c).size;
    const ms = performance.now() - t0;
    expect(n).toBe(documentedWeights(c).length);
    console.log(`declaredWeights for 1024 layers: ${n} weights in ${ms.toFixed(0)} ms`);
  });
});
