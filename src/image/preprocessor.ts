import { preprocessLayout, resampleH, resampleV, type PreprocessLayout } from '../kernels/preprocess/op.js';
import { normalisationTable, preprocessGeometry, type PreprocessConfig } from '../model/preprocess.js';
import { WebvitError } from '../runtime/errors.js';
import { BufferOwner, upload as uploadTo } from '../runtime/buffers.js';
import { Plan } from '../runtime/plan.js';
import type { BufferSlice } from '../runtime/shader.js';

/** Decoded 8-bit RGBA pixels: width × height × 4 bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * Source rows go to the GPU in bands of at most this many bytes, one band at a time: the GPU
 * (and, under a software Vulkan, the process) holds one band and its upload copy, not a second
 * copy of the whole image.
 */
export const BAND_BYTES = 16 << 20;

/**
 * Longest side of the resized image. The resampling tables cover the whole resized side (about
 * 28 bytes an entry), so an image of extreme aspect ratio (1 × 100,000,000 resized to 256 ×
 * 25,600,000,000) is refused with its numbers instead of failing an allocation.
 */
export const MAX_RESIZED_SIDE = 1 << 20;

/**
 * Turns decoded images into a model's input on the GPU, one image at a time: Pillow's resize
 * (bit-exact, see src/kernels/preprocess/), torchvision's centre crop and normalisation, written
 * as C × crop × crop float32 values at the image's slot of an NCHW batch. Per image, the GPU
 * holds one band of source rows (BAND_BYTES), the horizontal pass's output (source rows used ×
 * crop columns × 4 bytes) and the coefficient tables; all are freed before the next image.
 */
export class ImagePreprocessor {
  private readonly lut: Float32Array;
  readonly channels: number;

  constructor(
    readonly device: GPUDevice,
    readonly config: PreprocessConfig,
    readonly label = 'preprocess',
    /** Largest buffer binding to use (default: the device's limit); tests lower it to exercise row bands. */
    private readonly maxBindingBytes?: number,
  ) {
    this.lut = normalisationTable(config);
    this.channels = config.channels === 'grayscale' ? 1 : 3;
  }

  /** Values of one preprocessed image: C × crop × crop. */
  get imageValues(): number {
    return this.channels * this.config.crop * this.config.crop;
  }

  /** Where each image goes (resize, crop window) and its coefficient tables. */
  layout(image: { width: number; height: number }): PreprocessLayout {
    const g = preprocessGeometry(this.config, image.width, image.height);
    if (Math.max(g.resizeW, g.resizeH) > MAX_RESIZED_SIDE) {
      throw new WebvitError(
        'BAD_INPUT',
        `${this.label}: image is ${image.width}×${image.height}; resizing its shorter side to ${this.config.resize} makes it ` +
          `${g.resizeW.toLocaleString('en-US')}×${g.resizeH.toLocaleString('en-US')}, above the limit of ${MAX_RESIZED_SIDE.toLocaleString('en-US')} pixels a side ` +
          `(an extreme aspect ratio): crop the image first`,
      );
    }
    return preprocessLayout(g, this.config.interpolation, this.config.channels);
  }

  /** Preprocesses `images` into one [images.length, C, crop, crop] float32 batch, one image at a time. */
  async run(images: RgbaImage[]): Promise<Float32Array> {
    const batch = new Float32Array(images.length * this.imageValues);
    for (let i = 0; i < images.length; i++) await this.runInto(images[i], batch, i);
    return batch;
  }

  /**
   * Preprocesses one image into `batch` at image slot `slot` (values slot·imageValues onwards).
   * Every GPU buffer it makes is freed before it returns; the caller may drop `image` then.
   */
  async runInto(image: RgbaImage, batch: Float32Array, slot: number, name = `image${slot}`): Promise<void> {
    const device = this.device;
    const per = this.imageValues;
    if (!Number.isInteger(slot) || slot < 0 || (slot + 1) * per > batch.length) {
      throw new WebvitError('BAD_ARGUMENT', `${this.label}: slot ${slot} does not fit a batch of ${batch.length} values (${per} per image)`);
    }
    if (image.rgba.byteLength !== 4 * image.width * image.height) {
      throw new WebvitError('BAD_INPUT', `${this.label}: ${name} has ${image.rgba.byteLength} bytes, expected ${image.width}×${image.height}×4`);
    }
    const L = this.layout(image);
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const rowBytes = 4 * image.width;
    if (rowBytes > limit) throw new WebvitError('DEVICE_LIMITS', `${this.label}: ${name} is ${image.width} pixels wide; one row (${rowBytes} bytes) does not fit this device's ${limit}-byte binding limit`);
    const tmpBytes = 4 * L.rows * L.cols;
    if (tmpBytes > limit) {
      throw new WebvitError('DEVICE_LIMITS', `${this.label}: ${name} (${image.width}×${image.height}) needs a ${tmpBytes}-byte intermediate (${L.rows} rows × ${L.cols} columns), above this device's ${limit}-byte binding limit`);
    }
    const bandRows = Math.max(1, Math.floor(Math.min(limit, this.maxBindingBytes ?? Infinity, BAND_BYTES) / rowBytes));
    const owner = new BufferOwner(device);
    const upload = (label: string, data: ArrayBufferView): BufferSlice => uploadTo(owner, `${this.label}.${name}.${label}`, data);
    try {
      const lut = upload('lut', this.lut);
      const htab = upload('htab', L.htab);
      const vtab = upload('vtab', L.vtab);
      const tmp: BufferSlice = { buffer: owner.create({ label: `${this.label}.${name}.tmp`, size: Math.max(16, tmpBytes), usage: GPUBufferUsage.STORAGE }), offset: 0, size: tmpBytes };
      // Horizontal pass, band by band; each band's plan (and its pixel buffer) is freed, and the
      // GPU has finished with the band, before the next one is uploaded.
      for (let r = L.row0; r < L.row0 + L.rows; r += bandRows) {
        const n = Math.min(bandRows, L.row0 + L.rows - r);
        const label = `${this.label}.${name}.h@${r}`;
        const pixels = { tensor: 'pixels', bytes: n * rowBytes };
        const plan = await Plan.compile(device, label, [resampleH({ label, layout: L, bandRow0: r, bandRows: n, pixels, htab, tmp })], { inputs: ['pixels'], outputs: [] });
        try {
          await plan.run({ pixels: image.rgba.subarray(r * rowBytes, (r + n) * rowBytes) });
        } finally {
          await plan.destroy();
        }
        await device.queue.onSubmittedWorkDone();
      }
      const label = `${this.label}.${name}.v`;
      const out = { tensor: 'out', bytes: 4 * per };
      const plan = await Plan.compile(device, label, [resampleV({ label, layout: L, tmp, vtab, lut, out, outOffset: 0 })], { inputs: [], outputs: ['out'] });
      try {
        batch.set((await plan.run({})).out, slot * per);
      } finally {
        await plan.destroy();
      }
    } finally {
      owner.destroyAll();
    }
  }
}
