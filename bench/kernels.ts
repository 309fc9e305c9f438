import { attention, ATTENTION_VARIANTS } from '../src/kernels/attention/op.js';
import { attentionRef } from '../src/kernels/attention/reference.js';
import { gelu } from '../src/kernels/gelu/op.js';
import { geluRef } from '../src/kernels/gelu/reference.js';
import { layerNorm, LAYERNORM_VARIANTS, type LayerNormVariant } from '../src/kernels/layernorm/op.js';
import { layerNormRef } from '../src/kernels/layernorm/reference.js';
import { linear, MATMUL_VARIANTS, type MatmulEpilogue, type MatmulVariant } from '../src/kernels/matmul/op.js';
import { linearRef } from '../src/kernels/matmul/reference.js';
import { patchEmbed } from '../src/kernels/patch_embed/op.js';
import { patchEmbedRef } from '../src/kernels/patch_embed/reference.js';
import { VIT_PRESETS } from '../src/model/config.js';
import type { KernelCase } from './harness.js';
import { variantNeeds } from '../src/kernels/registry.js';

export const BENCH_MODELS = {
  ti16: VIT_PRESETS.vit_tiny_patch16_224,
  s16: VIT_PRESETS.vit_small_patch16_224,
  b16: VIT_PRESETS.vit_base_patch16_224,
} as const;
export type BenchModel = keyof typeof BENCH_MODELS;

export const BENCH_OPS = ['patch_embed', 'layernorm', 'matmul', 'attention', 'gelu'] as const;
export type BenchOp = (typeof BENCH_OPS)[number];

/** Float32 tolerance for validation before timing: the same bound the kernel tests use. */
const TOL = 1e-5;

/** Deterministic test data (mulberry32 + Box-Muller); the bench needs no fresh seeds, only fixed inputs. */
function randn(seed: number, n: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** Computes a reference once and shares it between the variants of one shape. */
function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

/** Every (op, variant, layer shape) of one model at one batch size. */
export function kernelCases(model: BenchModel, batch: number, maxWorkgroupStorage: number, ops: readonly BenchOp[] = BENCH_OPS): KernelCase[] {
  const c = BENCH_MODELS[model];
  const D = c.hidden_size;
  const F = c.mlp_size;
  const G = c.image_size / c.patch_size;
  const T = 1 + G * G;
  const M = batch * T;
  const H = c.num_heads;
  const Dh = D / H;
  const cases: KernelCase[] = [];
  const tag = (layer: string) => `${model} b${batch} ${layer}`;

  if (ops.includes('patch_embed')) {
    const K = c.num_channels * c.patch_size ** 2;
    const image = randn(1, batch * c.num_channels * c.image_size ** 2);
    const w = randn(2, K * D, 1 / Math.sqrt(K));
    const bias = randn(3, D);
    const cls = randn(4, D);
    const pos = randn(5, T * D);
    const ref = once(() => patchEmbedRef(image, w, bias, [cls], pos, batch, c.num_channels, c.image_size, c.patch_size, D));
    cases.push({
      op: 'patch_embed', variant: 'tiled_gather', shape: tag('patch_embed'), inputs: { image, w, bias, cls, pos }, output: { name: 'out', length: M * D }, tol: TOL, reference: ref,
      make: (b) => patchEmbed({ label: 'bench.patch_embed', batch, channels: c.num_channels, imageSize: c.image_size, patchSize: c.patch_size, D, image: b.image, w: b.w, bias: b.bias, cls: b.cls, pos: b.pos, out: b.out }),
    });
  }
  if (ops.includes('layernorm')) {
    const x = randn(6, M * D);
    const gamma = randn(7, D);
    const beta = randn(8, D);
    const ref = once(() => layerNormRef(x, gamma, beta, M, D, 1e-6));
    for (const variant of Object.keys(LAYERNORM_VARIANTS) as LayerNormVariant[]) {
      cases.push({
        op: 'layernorm', variant, shape: tag('norm1'), inputs: { x, gamma, beta }, output: { name: 'out', length: M * D }, tol: TOL, reference: ref,
        needs: variantNeeds('layernorm', variant),
        make: (b) => layerNorm({ label: 'bench.layernorm', rows: M, D, eps: 1e-6, x: b.x, gamma: b.gamma, beta: b.beta, out: b.out, variant }),
      });
    }
  }
  if (ops.includes('matmul')) {
    const layers: [string, number, number, number, MatmulEpilogue][] = [
      ['attn.qkv', M, D, 3 * D, 'none'],
      ['attn.proj', M, D, D, 'residual'],
      ['mlp.fc1', M, D, F, 'gelu'],
      ['mlp.fc2', M, F, D, 'residual'],
      ['head', batch, D, c.num_classes ?? 1000, 'none'],
    ];
    layers.forEach(([layer, m, k, n, epilogue], li) => {
      const a = randn(10 + li, m * k);
      const w = randn(20 + li, k * n, 1 / Math.sqrt(k));
      const bias = randn(30 + li, n);
      const residual = epilogue === 'residual' ? randn(40 + li, m * n) : undefined;
      const inputs: Record<string, Float32Array> = { a, w, bias, ...(residual ? { residual } : {}) };
      const ref = once(() => linearRef(a, w, bias, residual, m, k, n, epilogue));
      for (const variant of Object.keys(MATMUL_VARIANTS) as MatmulVariant[]) {
        cases.push({
          op: 'matmul', variant, shape: tag(layer), inputs, output: { name: 'out', length: m * n }, tol: TOL, reference: ref,
          needs: variantNeeds('matmul', variant),
          make: (b) => linear({ label: `bench.${layer}`, M: m, K: k, N: n, a: b.a, w: b.w, bias: b.bias, residual: b.residual, out: b.out, epilogue, variant }),
        });
      }
    });
  }
  if (ops.includes('attention')) {
    const qkv = randn(50, M * 3 * D);
    const ref = once(() => attentionRef(qkv, batch, T, H, Dh));
    for (const variant of Object.keys(ATTENTION_VARIANTS) as (keyof typeof ATTENTION_VARIANTS)[]) {
      cases.push({
        op: 'attention', variant, shape: tag('attn'), inputs: { qkv }, output: { name: 'out', length: M * D }, tol: TOL, reference: ref,
        needs: variantNeeds('attention', variant),
        make: (b) => attention({ label: 'bench.attn', batch, T, heads: H, headDim: Dh, qkv: b.qkv, out: b.out, maxWorkgroupStorage, variant }),
      });
    }
  }
  if (ops.includes('gelu')) {
    const x = randn(60, M * F, 2);
    cases.push({
      op: 'gelu', variant: 'elementwise', shape: tag('mlp.hidden'), inputs: { x }, output: { name: 'out', length: M * F }, tol: TOL,
      reference: once(() => geluRef(x)),
      make: (b) => gelu({ label: 'bench.gelu', n: M * F, x: b.x, out: b.out }),
    });
  }
  return cases;
}
