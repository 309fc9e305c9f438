import { describe, expect, it } from 'vitest';
import { BAND_BYTES, ImagePreprocessor, MAX_RESIZED_SIDE, type RgbaImage } from '../../src/image/preprocessor.js';
import { preprocessRef } from '../../src/kernels/preprocess/reference.js';
import { preprocessGeometry, type PreprocessConfig } from '../../src/image/preprocess.js';
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
  it('holds one band of rows on the GPU at a time, not the image: live GPU bytes stay under a band + the intermediate + tables; dispose frees all', async () => {
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
      await pre.dispose();
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
    expect(tracker.live(), `live after runInto and dispose: ${tracker.describeLive()}`).toHaveLength(0);
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

  it('input(): images go straight into a GPU buffer at their slots, unfilled slots zeroed, nothing read back; a second batch of the same sizes makes no buffer and compiles no pass', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const r = rng(seed);
    const config = rgbConfig(16, 20);
    const pre = new ImagePreprocessor(device, config, 'test.pre', 4096); // 4 KB bands: the 90-pixel-wide image takes several
    const image = (w: number, h: number): RgbaImage => ({ width: w, height: h, rgba: Uint8Array.from({ length: 4 * w * h }, () => 256 * r()) });
    const images = [image(90, 70), image(33, 41)];
    const per = pre.imageValues;
    const target = device.createBuffer({ label: 'test.target', size: 4 * 4 * per, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const read = async () => {
      const staging = device.createBuffer({ size: 4 * 4 * per, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(target, 0, staging, 0, 4 * 4 * per);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(staging.getMappedRange().slice(0));
      staging.destroy();
      return out;
    };
    const mapAsync = GPUBuffer.prototype.mapAsync;
    let maps = 0;
    GPUBuffer.prototype.mapAsync = function (this: GPUBuffer, ...a: Parameters<GPUBuffer['mapAsync']>) {
      maps++;
      return mapAsync.apply(this, a);
    };
    const run = async () => {
      device.queue.writeBuffer(target, 0, new Float32Array(4 * per).fill(NaN));
      const input = pre.input(4, async (put) => {
        for (const [i, img] of images.entries()) await put(img, `img${i}`);
      });
      expect([input.batch, input.byteLength]).toEqual([4, 16 * per]);
      const encoder = device.createCommandEncoder();
      await input.write({ buffer: target, offset: 0, size: 4 * 4 * per }, encoder);
      device.queue.submit([encoder.finish()]);
    };
    try {
      await run();
      expect(maps, 'no readback while writing').toBe(0);
      const tracker = trackBuffers(device);
      const compile = await import('../../src/runtime/plan.js');
      const before = compile.Plan.compile;
      let compiles = 0;
      compile.Plan.compile = (...a: Parameters<typeof before>) => (compiles++, before(...a));
      try {
        await run();
      } finally {
        compile.Plan.compile = before;
        tracker.restore();
      }
      expect([tracker.created.length, compiles], 'second batch: buffers made, passes compiled').toEqual([0, 0]);
    } finally {
      GPUBuffer.prototype.mapAsync = mapAsync;
    }
    const got = await read();
    images.forEach((img, i) => {
      const ref = preprocessRef(img.rgba, preprocessGeometry(config, img.width, img.height), config.interpolation, config.channels, config.mean, config.std);
      let maxAbs = 0;
      for (let v = 0; v < per; v++) maxAbs = Math.max(maxAbs, Math.abs(got[i * per + v] - ref.values[v]));
      expect(maxAbs, `image ${i}, seed ${seed}`).toBeLessThanOrEqual(1e-6);
    });
    expect(got.subarray(2 * per).every((v) => v === 0), 'unfilled slots are zero').toBe(true);
    await pre.dispose();
    target.destroy();
  });

  it('refuses a normalisation that takes 8-bit levels beyond ±1e6 or to ±Inf when it is made, naming the channel, mean, std and rescale; allocates nothing', async () => {
    const device = await testDevice();
    const tracker = trackBuffers(device);
    // std 1e-45 (a float32 denormal): every level but 0 normalises to +Inf. Before, such a
    // preprocessor was made and refused only images holding those levels; 1e-20 (levels to ~4e19,
    // finite) and rescale 1e30 passed to the model, which answered the same for every image.
    const gray = (std: number, rescale?: number): PreprocessConfig => ({ resize: null, crop: 4, interpolation: 'bilinear', mean: [0], std: [std], channels: 'grayscale', isDefault: false, ...(rescale ? { rescale } : {}) });
    await expectWebvitError(() => new ImagePreprocessor(device, gray(1e-45), 'test.pre'), 'BAD_CONFIG', ['test.pre: std[0] 1e-45 (mean[0] 0, rescale 1/255) normalises 8-bit level 1 to Infinity', 'beyond ±1000000', 'fix mean/std/rescale']);
    await expectWebvitError(() => new ImagePreprocessor(device, gray(1e-20), 'test.pre'), 'BAD_CONFIG', ['std[0] 1e-20', 'level 1 to 3.92e+17']);
    await expectWebvitError(() => new ImagePreprocessor(device, gray(0.5, 1e30), 'test.pre'), 'BAD_CONFIG', ['rescale 1e+30', 'level 1 to 2.00e+30']);
    await expectWebvitError(() => new ImagePreprocessor(device, { ...rgbConfig(4, null), std: [0.229, 1e-7, 0.225] }, 'test.pre'), 'BAD_CONFIG', ['std[1] 1e-7 (mean[1] 0.456,', 'level 0 to -4560000']);
    expect(tracker.created, 'no GPU buffer made').toEqual([]);
    tracker.restore();
    // At the bound: rescale 1e6/255, mean 0, std 1 takes level 255 to 1e6 exactly, which passes.
    const pre = new ImagePreprocessor(device, gray(1, 1e6 / 255), 'test.pre');
    await pre.dispose();
  });
});
