import { describe, expect, it } from 'vitest';
import { attention } from '../../src/kernels/attention/op.js';
import { subgroupAttentionCode } from '../../src/kernels/attention/subgroup.js';
import { layerNorm } from '../../src/kernels/layernorm/op.js';
import { linear } from '../../src/kernels/matmul/op.js';
import { tiledMatmulWgsl } from '../../src/kernels/matmul/tiled.js';
import { patchEmbed } from '../../src/kernels/patch_embed/op.js';
import { pool } from '../../src/kernels/pool/op.js';
import { resampleTable } from '../../src/kernels/preprocess/resample.js';
import { relL2 } from '../../src/kernels/reference_math.js';
import { WebvitError } from '../../src/runtime/errors.js';

// Kernel preconditions are checked where a dispatch is built, before any GPU object exists, and
// fail with a WebvitError carrying a code (docs/design.md), never a plain Error. No device needed:
// the builders only describe a dispatch; a slice is never touched.
const slice = { buffer: {} as GPUBuffer, offset: 0, size: 1 << 20 };

function expectArgError(f: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(WebvitError);
  expect((caught as WebvitError).code).toBe('BAD_ARGUMENT');
  expect((caught as WebvitError).message).toMatch(message);
}

describe('kernel preconditions throw WebvitError BAD_ARGUMENT', () => {
  const mm = { label: 'blk0.fc1', M: 197, K: 64, N: 256, a: slice, w: slice, out: slice, epilogue: 'none' as const };
  it('matmul: non-positive or fractional sizes, residual mismatch, unknown variant', () => {
    expectArgError(() => linear({ ...mm, M: 0 }), /blk0\.fc1: matmul M must be a positive integer, got 0/);
    expectArgError(() => linear({ ...mm, K: 2.5 }), /matmul K must be a positive integer, got 2\.5/);
    expectArgError(() => linear({ ...mm, epilogue: 'residual' }), /residual buffer is needed exactly when/);
    expectArgError(() => linear({ ...mm, variant: 'bogus' as never }), /unknown matmul variant bogus; known: .*tiled/);
    expect(() => linear(mm)).not.toThrow();
  });

  it('matmul: a tile that is not a multiple of 4', () => {
    expectArgError(() => tiledMatmulWgsl({ tile: { BM: 64, BN: 62, BK: 16 }, vecA: true, vecN: true, w: 'f32' }, { params: [], bindings: [], loadA: '', store: '', helpers: '' }), /multiples of 4/);
  });

  const att = { label: 'blk0.attn', batch: 3, T: 197, heads: 3, headDim: 64, qkv: slice, out: slice, maxWorkgroupStorage: 16384 };
  it('attention: unknown variant, too little workgroup memory, head dim off the vector width', () => {
    expectArgError(() => attention({ ...att, variant: 'bogus' as never }), /unknown attention variant bogus/);
    expectArgError(() => attention({ ...att, maxWorkgroupStorage: 100 }), /head dim 64 needs more workgroup memory than the device's 100 bytes/);
    expectArgError(() => attention({ ...att, headDim: 30, variant: 'subgroup_bcast' }), /blk0\.attn: attention\/subgroup_bcast .*divisible by 4 \(got 30\); use attention\/online_softmax/);
    expectArgError(() => subgroupAttentionCode({ headDim: 30, BQ: 32, KT: 1 }), /head dim 30 is not a multiple of 4/);
    expect(() => attention(att)).not.toThrow();
  });

  it('layernorm: eps and variant', () => {
    const ln = { label: 'blk0.norm1', rows: 197, D: 192, eps: 1e-6, x: slice, gamma: slice, beta: slice, out: slice };
    expectArgError(() => layerNorm({ ...ln, eps: 0 }), /eps must be positive, got 0/);
    expectArgError(() => layerNorm({ ...ln, eps: NaN }), /eps must be positive, got NaN/);
    expectArgError(() => layerNorm({ ...ln, variant: 'bogus' as never }), /unknown layernorm variant bogus/);
  });

  it('pooling and patch embedding: token and geometry mismatches', () => {
    const p = { label: 'pool', batch: 2, T: 1, D: 8, prefix: 1, x: slice, out: slice };
    expectArgError(() => pool({ ...p, mode: 'mean' }), /mean pooling needs patch tokens, T = 1 with 1 prefix tokens/);
    expectArgError(() => pool({ ...p, T: 5, prefix: 0, mode: 'cls' }), /class-token pooling needs a class token/);
    const pe = { label: 'patch_embed', batch: 1, channels: 3, imageSize: 30, patchSize: 16, D: 64, image: slice, w: slice, bias: slice, pos: slice, out: slice };
    expectArgError(() => patchEmbed(pe), /image size 30 is not divisible by patch size 16/);
    expectArgError(() => patchEmbed({ ...pe, imageSize: 32, dist: slice }), /distillation token needs a class token/);
  });

  it('preprocess tables and the comparison helper', () => {
    expectArgError(() => resampleTable(0, 10, 'bilinear'), /sizes must be positive integers, got 0 → 10/);
    expectArgError(() => relL2(new Float64Array(3), new Float64Array(4)), /length mismatch: got 3, want 4/);
  });
});
