import { preprocessLayout, resampleH, resampleV, type PreprocessLayout } from '../kernels/preprocess/op.js';
import { checkNormalisation, INTERPOLATIONS, normalisationTable, preprocessGeometry, type PreprocessConfig } from './preprocess.js';
import { BufferOwner, readback, upload } from '../runtime/buffers.js';
import { WebvitError } from '../runtime/errors.js';
import { checkDevice } from '../runtime/device.js';
import { Plan, type InputWriter } from '../runtime/plan.js';
import type { BufferSlice } from '../runtime/shader.js';

/** Decoded 8-bit RGBA pixels: width × height × 4 bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * 8-bit RGBA pixels already on the GPU (the web layer's texture of an ImageBitmap, canvas or video
 * frame): `copyRows` records on `encoder` the copy of rows row0 … row0 + rows − 1 into `band` from
 * byte 0, packed as RgbaImage.rgba would be (width × 4 bytes a row). No pixel passes through the CPU,
 * so the 8-bit levels that normalise to NaN or ±Inf are not refused up front (the model then reports
 * the non-finite output).
 */
export interface GpuRgbaImage {
  width: number;
  height: number;
  copyRows(encoder: GPUCommandEncoder, band: GPUBuffer, row0: number, rows: number): void;
}

/** An image the preprocessor takes: pixels in memory, or already on the GPU. */
export type PreprocessorImage = RgbaImage | GpuRgbaImage;
const onCpu = (image: PreprocessorImage): image is RgbaImage => 'rgba' in image;

/**
 * An image as the preprocessor takes it, or a BAD_INPUT saying what one is: an object without
 * `rgba` was taken for pixels on the GPU, and its stated size (1e6 × 1e6) sized the resize tables
 * before anything failed (a hostile run crashed the process that way).
 */
function checkImage(image: unknown, where: string): asserts image is PreprocessorImage {
  const i = image as Partial<RgbaImage & GpuRgbaImage> | null;
  const shape = 'an RgbaImage { width, height, rgba: Uint8Array of 8-bit RGBA } (decodeImage gives one)';
  if (typeof i != 'object' || i === null) throw new WebvitError('BAD_INPUT', `${where}: expected ${shape}, got ${i === null ? 'null' : typeof i}`);
  if (!(Number.isSafeInteger(i.width) && Number.isSafeInteger(i.height) && i.width! >= 1 && i.height! >= 1)) {
    throw new WebvitError('BAD_INPUT', `${where}: width and height must be whole numbers of pixels ≥ 1, got ${String(i.width)}×${String(i.height)}`);
  }
  const pixels = 'rgba' in i ? (i.rgba as unknown) instanceof Uint8Array || (i.rgba as unknown) instanceof Uint8ClampedArray : typeof i.copyRows == 'function';
  if (!pixels) throw new WebvitError('BAD_INPUT', `${where}: expected ${shape}; ${'rgba' in i ? 'rgba is not a Uint8Array' : 'it has no rgba'}${'data' in i ? ' (ImageData names its pixels `data`: pass { width, height, rgba: new Uint8Array(data.buffer) })' : ''}`);
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

/** Image geometries whose tables, intermediate and compiled passes are kept (least recently used dropped). */
const MAX_GEOMETRIES = 8;
/** Compiled vertical passes kept per geometry: one per (target buffer, slot). */
const MAX_TARGET_PASSES = 64;

/**
 * A model input written on the GPU by the preprocessor (ViTModel.forward takes it in place of a
 * Float32Array): `batch` images, straight into the plan's input tensor, in the forward pass's turn.
 */
export interface ImageInput extends InputWriter {
  readonly batch: number;
}

/** What is compiled and uploaded once per image geometry (width, height; the config is the preprocessor's). */
interface Geometry {
  L: PreprocessLayout;
  owner: BufferOwner;
  tmp: BufferSlice;
  vtab: BufferSlice;
  bandRows: number;
  /** The horizontal pass of each band, on the shared band buffer. */
  bands: { row0: number; rows: number; plan: Plan }[];
  /** Vertical pass into (target buffer, slot), compiled on first use. */
  targets: Map<GPUBuffer, Map<number, Plan>>;
  passes: number;
}

/**
 * Turns decoded images into a model's input on the GPU, one image at a time: Pillow's resize
 * (bit-exact, see src/kernels/preprocess/; shorter side or exact width × height), the centre crop and
 * normalisation of torchvision or of Hugging Face's image processors (src/image/preprocess.ts), written
 * as C × crop × crop float32 values at the image's slot of an NCHW batch buffer: the model
 * plan's own input tensor (`input`), or a buffer read back (`run`, `runInto`).
 *
 * Each image's 8-bit RGBA rows are uploaded once, in bands of at most BAND_BYTES into one band
 * buffer shared by all images; its passes are submitted right after its rows, so queue order puts
 * them before the forward pass that reads the tensor, and the GPU is waited for whenever
 * BAND_BYTES more have been uploaded (the bound on upload copies in flight, whatever the number of
 * images). Per image geometry (width × height) the coefficient tables, the intermediate
 * (rows used × crop columns × 4 bytes) and the compiled passes are kept for the next image of the
 * same size, up to MAX_GEOMETRIES geometries; `dispose()` frees them all.
 */
export class ImagePreprocessor {
  private readonly lut: Float32Array;
  readonly channels: number;
  private readonly owner: BufferOwner;
  private lutBuffer?: BufferSlice;
  private band?: GPUBuffer;
  private readonly geometries = new Map<string, Geometry>();
  private uploadedSinceWait = 0;
  /** Writes run one at a time: they share the band buffer and the kept geometries. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly device: GPUDevice,
    readonly config: PreprocessConfig,
    readonly label = 'preprocess',
    /** Largest buffer binding to use (default: the device's limit); tests lower it to exercise row bands. */
    private readonly maxBindingBytes?: number,
  ) {
    checkDevice(device, label);
    const c = config as Partial<PreprocessConfig> | null;
    if (typeof c != 'object' || c === null || !(Number.isSafeInteger(c.crop) && c.crop! >= 1 && c.crop! <= 16384) || (c.channels !== 'rgb' && c.channels !== 'grayscale') || !INTERPOLATIONS.includes(c.interpolation!)) {
      throw new WebvitError('BAD_ARGUMENT', `${label}: config must be a PreprocessConfig (a model's \`preprocess\`), got ${c === null ? 'null' : typeof c == 'object' ? JSON.stringify(c).slice(0, 120) : typeof c}`);
    }
    // A level that normalises beyond ±MAX_NORMALISED (or to NaN/±Inf) is refused here, not per image.
    this.lut = normalisationTable(checkNormalisation(config, label));
    this.channels = config.channels === 'grayscale' ? 1 : 3;
    this.owner = new BufferOwner(device);
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
        `${this.label}: image is ${image.width}×${image.height}; resizing its shorter side to ${JSON.stringify(this.config.resize)} makes it ` +
          `${g.resizeW.toLocaleString('en-US')}×${g.resizeH.toLocaleString('en-US')}, above the limit of ${MAX_RESIZED_SIDE.toLocaleString('en-US')} pixels a side ` +
          `(an extreme aspect ratio): crop the image first`,
      );
    }
    return preprocessLayout(g, this.config.interpolation, this.config.channels);
  }

  /**
   * A model input that preprocesses images into the model's input tensor on the GPU. `images` is
   * called in the forward pass's turn and calls `put` once per image, in slot order (at most
   * `batch`), so the caller can decode each image there and drop it after its `put`; slots left
   * unfilled are zeroed. No pixel comes back to the CPU.
   */
  input(batch: number, images: (put: (image: PreprocessorImage, name: string) => Promise<void>) => Promise<void>): ImageInput {
    const per = this.imageValues;
    return {
      batch,
      byteLength: 4 * batch * per,
      write: async (target, encoder) => {
        let n = 0;
        await images(async (image, name) => {
          if (n >= batch) throw new WebvitError('BAD_ARGUMENT', `${this.label}: more than the ${batch} images this input was made for`);
          await this.write(image, target, n, name);
          n++;
        });
        if (n < batch) encoder.clearBuffer(target.buffer, (target.offset ?? 0) + 4 * n * per, 4 * (batch - n) * per);
      },
    };
  }

  /** Preprocesses `images` into one [images.length, C, crop, crop] float32 batch, one image at a time, read back. */
  async run(images: RgbaImage[]): Promise<Float32Array> {
    if (!Array.isArray(images)) throw new WebvitError('BAD_ARGUMENT', `${this.label}: run(images) takes an array of images ({ width, height, rgba }), got ${images === null ? 'null' : typeof images}`);
    const batch = new Float32Array(images.length * this.imageValues);
    for (let i = 0; i < images.length; i++) await this.runInto(images[i], batch, i);
    return batch;
  }

  /**
   * Preprocesses one image into `batch` at image slot `slot` (values slot·imageValues onwards),
   * read back to the CPU (tests, tools; classify uses `input`). The caller may drop `image` after.
   */
  async runInto(image: RgbaImage, batch: Float32Array, slot: number, name = `image${slot}`): Promise<void> {
    const per = this.imageValues;
    if (!Number.isInteger(slot) || slot < 0 || (slot + 1) * per > batch.length) {
      throw new WebvitError('BAD_ARGUMENT', `${this.label}: slot ${slot} does not fit a batch of ${batch.length} values (${per} per image)`);
    }
    const owner = new BufferOwner(this.device);
    const out = owner.create({ label: `${this.label}.${name}.out`, size: 4 * per, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    try {
      await this.write(image, { buffer: out, offset: 0, size: 4 * per }, 0, name);
      batch.set(new Float32Array(await readback(this.device, out, 0, 4 * per)), slot * per);
    } finally {
      this.forget(out);
      owner.destroyAll();
    }
  }

  /** Frees every buffer and compiled pass the preprocessor keeps, after the writes already queued. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue;
    const all = [...this.geometries.values()];
    this.geometries.clear();
    await Promise.all(all.map((g) => this.release(g)));
    this.owner.destroyAll();
    this.lutBuffer = this.band = undefined;
  }

  /**
   * Uploads one image's rows and submits its passes, which write its C × crop × crop values into
   * `target` at image slot `slot`. Queue order puts them before any later submit that reads `target`.
   */
  private write(image: PreprocessorImage, target: BufferSlice & { size: number }, slot: number, name: string): Promise<void> {
    if (this.disposed) return Promise.reject(new WebvitError('DISPOSED', `${this.label}: an image written after dispose()`));
    const run = this.queue.then(() => this.writeNow(image, target, slot, name));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeNow(image: PreprocessorImage, target: BufferSlice & { size: number }, slot: number, name: string): Promise<void> {
    const device = this.device;
    const per = this.imageValues;
    if (!Number.isInteger(slot) || slot < 0 || 4 * (slot + 1) * per > target.size) {
      throw new WebvitError('BAD_ARGUMENT', `${this.label}: slot ${slot} does not fit a target of ${target.size / 4} values (${per} per image)`);
    }
    checkImage(image, `${this.label}: ${name}`);
    if (onCpu(image)) {
      if (image.rgba.byteLength !== 4 * image.width * image.height) {
        throw new WebvitError('BAD_INPUT', `${this.label}: ${name} has ${image.rgba.byteLength} bytes, expected ${image.width}×${image.height}×4`);
      }
    }
    const g = await this.geometry(image, name);
    const vplan = await this.targetPass(g, target, slot);
    const rowBytes = 4 * image.width;
    device.pushErrorScope('validation');
    try {
      for (const [i, b] of g.bands.entries()) {
        if (onCpu(image)) device.queue.writeBuffer(this.band!, 0, image.rgba.buffer as ArrayBuffer, image.rgba.byteOffset + b.row0 * rowBytes, b.rows * rowBytes);
        const encoder = device.createCommandEncoder({ label: `${this.label}.${name}` });
        if (!onCpu(image)) image.copyRows(encoder, this.band!, b.row0, b.rows);
        b.plan.record(encoder);
        if (i === g.bands.length - 1) vplan.record(encoder);
        device.queue.submit([encoder.finish()]);
        // Upload copies wait in memory until the GPU runs them: bound them to about one band.
        this.uploadedSinceWait += b.rows * rowBytes;
        if (this.uploadedSinceWait >= BAND_BYTES || g.bands.length > 1) {
          await device.queue.onSubmittedWorkDone();
          this.uploadedSinceWait = 0;
        }
      }
    } finally {
      const err = await device.popErrorScope();
      if (err) throw new WebvitError('GPU', `${this.label}: GPU validation error preprocessing ${name}: ${err.message}`);
    }
  }

  /** The tables, intermediate and compiled band passes of an image's geometry: kept, or made now. */
  private async geometry(image: { width: number; height: number }, name: string): Promise<Geometry> {
    const key = `${image.width}x${image.height}`;
    const kept = this.geometries.get(key);
    if (kept) {
      this.geometries.delete(key); // refresh its place in the LRU order
      this.geometries.set(key, kept);
      return kept;
    }
    const device = this.device;
    const L = this.layout(image);
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const rowBytes = 4 * image.width;
    if (rowBytes > limit) throw new WebvitError('DEVICE_LIMITS', `${this.label}: ${name} is ${image.width} pixels wide; one row (${rowBytes} bytes) does not fit this device's ${limit}-byte binding limit`);
    const tmpBytes = 4 * L.rows * L.cols;
    if (tmpBytes > limit) {
      throw new WebvitError('DEVICE_LIMITS', `${this.label}: ${name} (${image.width}×${image.height}) needs a ${tmpBytes}-byte intermediate (${L.rows} rows × ${L.cols} columns), above this device's ${limit}-byte binding limit`);
    }
    const bandRows = Math.max(1, Math.floor(Math.min(limit, this.maxBindingBytes ?? Infinity, BAND_BYTES) / rowBytes));
    // One band buffer serves every geometry; it grows (dropping the passes bound to the old one)
    // only when an image needs a bigger band.
    const bandBytes = Math.min(bandRows, L.rows) * rowBytes;
    if (!this.band || this.band.size < bandBytes) {
      const old = [...this.geometries.values()];
      this.geometries.clear();
      await Promise.all(old.map((x) => this.release(x)));
      if (this.band) this.owner.release(this.band);
      this.band = this.owner.create({ label: `${this.label}.band`, size: Math.max(16, bandBytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    }
    this.lutBuffer ??= upload(this.owner, `${this.label}.lut`, this.lut);
    const owner = new BufferOwner(device);
    const g: Geometry = { L, owner, tmp: { buffer: undefined as unknown as GPUBuffer }, vtab: { buffer: undefined as unknown as GPUBuffer }, bandRows, bands: [], targets: new Map(), passes: 0 };
    try {
      const htab = upload(owner, `${this.label}.${key}.htab`, L.htab);
      g.tmp = { buffer: owner.create({ label: `${this.label}.${key}.tmp`, size: Math.max(16, tmpBytes), usage: GPUBufferUsage.STORAGE }), offset: 0, size: tmpBytes };
      g.vtab = upload(owner, `${this.label}.${key}.vtab`, L.vtab);
      for (let r = L.row0; r < L.row0 + L.rows; r += bandRows) {
        const n = Math.min(bandRows, L.row0 + L.rows - r);
        const label = `${this.label}.${key}.h@${r}`;
        const pixels = { buffer: this.band, offset: 0, size: n * rowBytes };
        const plan = await Plan.compile(device, label, [resampleH({ label, layout: L, bandRow0: r, bandRows: n, pixels, htab, tmp: g.tmp })], { inputs: [], outputs: [] });
        g.bands.push({ row0: r, rows: n, plan });
      }
    } catch (e) {
      await this.release(g);
      throw e;
    }
    this.geometries.set(key, g);
    while (this.geometries.size > MAX_GEOMETRIES) {
      const [oldKey, old] = this.geometries.entries().next().value as [string, Geometry];
      this.geometries.delete(oldKey);
      await this.release(old);
    }
    return g;
  }

  /** The vertical pass of geometry `g` into `target` at `slot`, compiled on first use. */
  private async targetPass(g: Geometry, target: BufferSlice & { size: number }, slot: number): Promise<Plan> {
    let slots = g.targets.get(target.buffer);
    const kept = slots?.get(slot);
    if (kept) return kept;
    if (g.passes >= MAX_TARGET_PASSES) {
      // Many targets (plans made and dropped): start again rather than keep passes of dead buffers.
      for (const m of g.targets.values()) for (const p of m.values()) await p.destroy();
      g.targets.clear();
      g.passes = 0;
      slots = undefined;
    }
    const key = `${g.L.geometry.srcW}x${g.L.geometry.srcH}`;
    const label = `${this.label}.${key}.v@${slot}`;
    const plan = await Plan.compile(this.device, label, [resampleV({ label, layout: g.L, tmp: g.tmp, vtab: g.vtab, lut: this.lutBuffer!, out: target, outOffset: slot * this.imageValues })], { inputs: [], outputs: [] });
    if (!slots) g.targets.set(target.buffer, (slots = new Map()));
    slots.set(slot, plan);
    g.passes++;
    return plan;
  }

  /** Drops the passes compiled for `target` (a buffer about to be destroyed). */
  private forget(target: GPUBuffer): void {
    for (const g of this.geometries.values()) {
      const slots = g.targets.get(target);
      if (!slots) continue;
      for (const p of slots.values()) void p.destroy();
      g.passes -= slots.size;
      g.targets.delete(target);
    }
  }

  private async release(g: Geometry): Promise<void> {
    await Promise.all([...g.bands.map((b) => b.plan.destroy()), ...[...g.targets.values()].flatMap((m) => [...m.values()].map((p) => p.destroy()))]);
    g.owner.destroyAll();
  }
}
