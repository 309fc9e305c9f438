import { createHash } from 'node:crypto';
import { isTensorRef } from '../../src/kernels/kernel.js';
import { parseConfig, presetConfig, VIT_PRESETS, type ViTConfig, type ViTPresetName } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';

/**
 * The ViT/DeiT graphs whose dispatch lists must stay byte-identical while families are added
 * (issue 19): every preset, and the token/pooling kinds the presets lack, at batch 1 and 3.
 */
export function digestConfigs(): [string, ViTConfig][] {
  const tiny = VIT_PRESETS.vit_tiny_patch16_224;
  const out: [string, ViTConfig][] = (Object.keys(VIT_PRESETS) as ViTPresetName[]).map((n) => [n, presetConfig(n)]);
  const kinds: [string, object][] = [
    ['deit_distilled', { distilled: true }],
    ['mean', { pooling: 'mean' }],
    ['mean_fc_norm', { pooling: 'mean', fc_norm: true }],
    ['no_class_token', { pooling: 'mean', class_token: false, fc_norm: true }],
    ['no_qkv_bias_quick_gelu', { qkv_bias: false, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 }],
    ['features_only_odd', { image_size: 36, patch_size: 4, num_classes: 0, num_channels: 1 }],
  ];
  for (const [name, o] of kinds) out.push([name, parseConfig({ ...tiny, num_layers: 2, ...o }, name)]);
  return out;
}

/** SHA-256 of a graph's dispatches: labels, kernels, WGSL, grids, bindings (tensor and weight names, sizes), uniforms. */
export function graphDigest(c: ViTConfig, batch: number): string {
  const weight = (name: string) => ({ tensor: `weight:${name}`, bytes: 0 });
  const g = buildGraph(c, weight as never, { batch, maxWorkgroupStorage: 16384 });
  const h = createHash('sha256');
  for (const d of g.dispatches) {
    const bindings = Object.entries(d.bindings).map(([k, b]) => [k, isTensorRef(b) ? b.tensor : 'buffer']);
    h.update(JSON.stringify([d.label, d.source.kernel, d.source.key, d.source.code, d.workgroups, bindings, d.sizes, d.uniforms ?? null, d.flops, d.bytes]));
    h.update('\n');
  }
  return h.digest('hex');
}

export function allDigests(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, c] of digestConfigs()) for (const b of [1, 3]) out[`${name}@${b}`] = graphDigest(c, b);
  return out;
}
