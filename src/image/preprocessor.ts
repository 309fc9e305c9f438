import type { Dispatch } from '../kernels/kernel.js';
import { preprocessLayout, resampleH, resampleV, type PreprocessLayout } from '../kernels/preprocess/op.js';
import { normalisationTable, preprocessGeometry, type PreprocessConfig } from '../model/preprocess.js';
import { WebvitError } from '../runtime/errors.js';
import { BufferOwner, Plan } from '../runtime/plan.js';
import type { BufferSlice } from '../runtime/shader.js';

/** Decoded 8-bit RGBA pixels: width × height × 4 bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * Turns decoded images into a model's input batch on the GPU: for each image, Pillow's resize
 * (bit-exact, see src/kernels/preprocess/), torchvision's centre crop and normalisation, written
 * at the image's place in one NCHW float32 batch buffer. One command buffer per batch.
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
    return preprocessLayout(g, this.config.interpolation, this.config.channels);
  }

  /** Preprocesses `images` into one [images.length, C, crop, crop] float32 batch. */
  async run(images: RgbaImage[]): Promise<Float32Array> {
    if (images.length === 0) return new Float32Array(0);
    const device = this.device;
    const owner = new BufferOwner(device);
    let plan: Plan | undefined;
    try {
      const upload = (label: string, data: ArrayBufferView, offset = 0, bytes = data.byteLength): BufferSlice => {
        const size = Math.max(16, Math.ceil(bytes / 4) * 4);
        const buffer = owner.create({ label: `${this.label}.${label}`, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset + offset, bytes);
        return { buffer, offset: 0, size: bytes };
      };
      const lut = upload('lut', this.lut);
      const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
      const bandLimit = Math.min(limit, this.maxBindingBytes ?? Infinity);
      const batchBytes = 4 * images.length * this.imageValues;
      if (batchBytes > limit) {
        throw new WebvitError('DEVICE_LIMITS', `${this.label}: a batch of ${images.length} images needs ${batchBytes} bytes, above this device's ${limit}-byte binding limit; use a smaller batch`);
      }
      const out = { tensor: 'batch', bytes: batchBytes };
      const dispatches: Dispatch[] = [];
      images.forEach((img, i) => {
        if (img.rgba.byteLength !== 4 * img.width * img.height) {
          throw new WebvitError('BAD_INPUT', `${this.label}: image ${i} has ${img.rgba.byteLength} bytes, expected ${img.width}×${img.height}×4`);
        }
        const L = this.layout(img);
        const tmp = { tensor: `tmp${i}`, bytes: 4 * L.rows * L.cols };
        const htab = upload(`image${i}.htab`, L.htab);
        const vtab = upload(`image${i}.vtab`, L.vtab);
        // Bands of source rows, each within the binding limit.
        const rowBytes = 4 * img.width;
        const bandRows = Math.max(1, Math.floor(bandLimit / rowBytes));
        if (rowBytes > limit) throw new WebvitError('DEVICE_LIMITS', `${this.label}: image ${i} is ${img.width} pixels wide; one row does not fit this device's binding limit`);
        for (let r = L.row0; r < L.row0 + L.rows; r += bandRows) {
          const n = Math.min(bandRows, L.row0 + L.rows - r);
          const pixels = upload(`image${i}.pixels@${r}`, img.rgba, r * rowBytes, n * rowBytes);
          dispatches.push(resampleH({ label: `${this.label}.image${i}.h@${r}`, layout: L, bandRow0: r, bandRows: n, pixels, htab, tmp }));
        }
        dispatches.push(resampleV({ label: `${this.label}.image${i}.v`, layout: L, tmp, vtab, lut, out, outOffset: i * this.imageValues }));
      });
      plan = await Plan.compile(device, `${this.label}.b${images.length}`, dispatches, { inputs: [], outputs: ['batch'] });
      const result = await plan.run({});
      return result.batch;
    } finally {
      await plan?.destroy();
      owner.destroyAll();
    }
  }
}
