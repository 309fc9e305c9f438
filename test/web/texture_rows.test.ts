import { describe, expect, it } from 'vitest';
import { ImagePreprocessor, type PreprocessorImage, type RgbaImage } from '../../src/image/preprocessor.js';
import type { PreprocessConfig } from '../../src/image/preprocess.js';
import { TextureRows } from '../../src/web/texture_rows.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';

// The web layer's texture path (src/web/texture_rows.ts): a texture's rows unpacked on the GPU into
// the preprocessor's band must give the preprocessor exactly the bytes an in-memory image gives,
// bit for bit in the output, with one band or many (4 KB bindings force many), odd widths included.
const config = (channels: 'rgb' | 'grayscale', interpolation: PreprocessConfig['interpolation']): PreprocessConfig => ({
  resize: 20,
  crop: 16,
  interpolation,
  mean: channels === 'rgb' ? [0.485, 0.456, 0.406] : [0.5],
  std: channels === 'rgb' ? [0.229, 0.224, 0.225] : [0.25],
  channels,
  isDefault: false,
});

async function preprocessOne(device: GPUDevice, pre: ImagePreprocessor, image: PreprocessorImage): Promise<Float32Array> {
  const bytes = 4 * pre.imageValues;
  const target = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    // Poisoned first: a row the texture path missed would show as NaN.
    device.queue.writeBuffer(target, 0, new Float32Array(pre.imageValues).fill(NaN));
    const input = pre.input(1, (put) => put(image, 'test image'));
    const enc = device.createCommandEncoder();
    await input.write({ buffer: target, offset: 0, size: bytes }, enc);
    enc.copyBufferToBuffer(target, 0, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Float32Array(staging.getMappedRange().slice(0));
  } finally {
    target.destroy();
    staging.destroy();
  }
}

describe('TextureRows', () => {
  it('texture → band gives the in-memory result bit for bit (one band and many, odd sizes, seeded)', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const r = rng(seed);
    const rows = new TextureRows(device, 'test.texture');
    for (const [channels, interpolation, binding] of [
      ['rgb', 'bilinear', undefined],
      ['rgb', 'bicubic', 4096],
      ['grayscale', 'bilinear', 4096],
      ['rgb', 'nearest', 1000],
    ] as const) {
      const pre = new ImagePreprocessor(device, config(channels, interpolation), 'test.pre', binding);
      try {
        for (const [w, h] of [
          [20, 20],
          [37, 91],
          [129, 23],
          [1, 40],
        ]) {
          const rgba = Uint8Array.from({ length: 4 * w * h }, () => Math.floor(256 * r()));
          const memory: RgbaImage = { width: w, height: h, rgba };
          const tex = device.createTexture({ size: [w, h], format: 'rgba8unorm', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
          device.queue.writeTexture({ texture: tex }, rgba, { bytesPerRow: 4 * w }, [w, h]);
          try {
            const want = await preprocessOne(device, pre, memory);
            const got = await preprocessOne(device, pre, rows.fromTexture(tex, 'test image'));
            const what = `seed ${seed}: ${channels} ${interpolation} ${w}×${h}, bindings ${binding ?? 'device limit'}`;
            expect(want.every(Number.isFinite), what).toBe(true);
            expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), what).toBe(true);
          } finally {
            tex.destroy();
          }
        }
      } finally {
        await pre.dispose();
      }
    }
    rows.dispose();
  });

  it('refuses textures it cannot read, and sizes above the device limit, before any GPU work', async () => {
    const device = await testDevice();
    const rows = new TextureRows(device);
    const bgra = device.createTexture({ size: [4, 4], format: 'bgra8unorm', usage: GPUTextureUsage.TEXTURE_BINDING });
    const noBinding = device.createTexture({ size: [4, 4], format: 'rgba8unorm', usage: GPUTextureUsage.COPY_DST });
    try {
      await expectWebvitError(() => rows.check(bgra, 'image 3'), 'BAD_INPUT', ['image 3', 'rgba8unorm', 'bgra8unorm']);
      await expectWebvitError(() => rows.check(noBinding, 'image 1'), 'BAD_INPUT', ['TEXTURE_BINDING']);
      const max = device.limits.maxTextureDimension2D;
      const px = { source: {} as ImageBitmap, width: max + 1, height: 10 };
      await expectWebvitError(() => rows.check(px, 'the image'), 'BAD_INPUT', [`${max + 1}×10`, `at most ${max}`]);
      await expectWebvitError(() => rows.check({ ...px, width: 0 }, 'the image'), 'BAD_INPUT', ['no pixels', 'loadeddata']);
    } finally {
      bgra.destroy();
      noBinding.destroy();
      rows.dispose();
    }
  });
});
