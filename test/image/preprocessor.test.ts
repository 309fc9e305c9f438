import { describe, expect, it } from 'vitest';
import { BAND_BYTES, ImagePreprocessor, MAX_RESIZED_SIDE } from '../../src/image/preprocessor.js';
import { preprocessRef } from '../../src/kernels/preprocess/reference.js';
import { preprocessGeometry, type PreprocessConfig } from '../../src/model/preprocess.js';
import { trackBuffers } from '../helpers/buffer_tracker.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';

// ImagePreprocessor's memory and limits, one image at a time. That its values are Pillow's and
// torchvision's is tested in test/kernels/preprocess.test.ts (bands included).

const rgbConfig = (crop: number, resize: number | null): PreprocessConfig => ({
  resize,
  crop,
  interpolation: 'bilinear',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  channels: 'rgb',
  isDefault: false,
});

describe('ImagePreprocessor', () => {
  it('holds one band of rows on the GPU at a time, not the image: live GPU bytes stay under a band + the intermediate + tables', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const r = rng(seed);
    // 3000 × 3000: 36 MB of RGBA, more than two bands of 16 MB.
    const [w, h] = [3000, 3000];
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < rgba.length; i += 4099) rgba[i] = 256 * r();
    const config = rgbConfig(32, 36);
    const pre = new ImagePreprocessor(device, config, 'test.pre');
    const tracker = trackBuffers(device);
    let peak = 0;
    const create = device.createBuffer;
    (device as { createBuffer: GPUDevice['createBuffer'] }).createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor) {
      const b = create.call(this, desc);
      peak = Math.max(peak, tracker.live().reduce((a, x) => a + x.size, 0));
      return b;
    };
    const batch = new Float32Array(2 * pre.imageValues).fill(NaN);
    try {
      await pre.runInto({ width: w, height: h, rgba }, batch, 1);
    } finally {
      (device as { createBuffer: GPUDevice['createBuffer'] }).createBuffer = create;
      tracker.restore();
    }
    const L = pre.layout({ width: w, height: h });
    const intermediate = 4 * L.rows * L.cols;
    const tables = 4 * (L.htab.length + L.vtab.length + 3 * 256) + 4096;
    console.log(`[memory] preprocess ${w}×${h} (${rgba.length} bytes RGBA): peak live GPU buffers ${peak} bytes (band ${BAND_BYTES}, intermediate ${intermediate}, tables ${tables})`);
    expect(peak).toBeLessThanOrEqual(BAND_BYTES + intermediate + tables + 64 * 1024);
    expect(peak).toBeLessThan(rgba.length / 2);
    expect(tracker.live(), `live after runInto: ${tracker.describeLive()}`).toHaveLength(0);
    // Slot 0 untouched, slot 1 equal to the reference.
    expect(batch.subarray(0, pre.imageValues).every((v) => Number.isNaN(v))).toBe(true);
    const ref = preprocessRef(rgba, preprocessGeometry(config, w, h), config.interpolation, config.channels, config.mean, config.std);
    let maxAbs = 0;
    for (let i = 0; i < pre.imageValues; i++) maxAbs = Math.max(maxAbs, Math.abs(batch[pre.imageValues + i] - ref.values[i]));
    expect(maxAbs, `seed ${seed}`).toBeLessThanOrEqual(1e-6);
  });

  it('an image of extreme aspect ratio is refused with its sizes, before any resampling table is allocated', async () => {
    const device = await testDevice();
    const pre = new ImagePreprocessor(device, rgbConfig(224, 256), 'test.pre');
    // 1 × 5000 resized to 256 × 1,280,000: the tables would cover 1.28 M rows (and 1 × 100 M, 25.6 G).
    const img = { width: 1, height: 5000, rgba: new Uint8Array(4 * 5000) };
    await expectWebvitError(() => pre.runInto(img, new Float32Array(pre.imageValues), 0), 'BAD_INPUT', [
      'image is 1×5000',
      '256×1,280,000',
      `limit of ${MAX_RESIZED_SIDE.toLocaleString('en-US')} pixels a side`,
      'crop the image first',
    ]);
    await expectWebvitError(() => pre.runInto({ width: 1, height: 100_000_000, rgba: new Uint8Array(0) }, new Float32Array(pre.imageValues), 0), 'BAD_INPUT', ['expected 1×100000000×4']);
    expect(() => pre.layout({ width: 1, height: 100_000_000 })).toThrow(/256×25,600,000,000/);
    // Up to the limit it works: 1 × 4096 → 256 × 1,048,576.
    const ok = { width: 1, height: 4096, rgba: new Uint8Array(4 * 4096).fill(200) };
    const out = new Float32Array(pre.imageValues);
    await pre.runInto(ok, out, 0);
    expect(out.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('refuses a slot outside the batch and pixels of the wrong size', async () => {
    const device = await testDevice();
    const pre = new ImagePreprocessor(device, rgbConfig(8, null), 'test.pre');
    const img = { width: 4, height: 4, rgba: new Uint8Array(64) };
    await expectWebvitError(() => pre.runInto(img, new Float32Array(pre.imageValues), 1), 'BAD_ARGUMENT', ['slot 1', `${pre.imageValues} per image`]);
    await expectWebvitError(() => pre.runInto({ ...img, rgba: new Uint8Array(60) }, new Float32Array(pre.imageValues), 0), 'BAD_INPUT', ['60 bytes', 'expected 4×4×4']);
  });
});
