import type { GpuRgbaImage } from '../image/preprocessor.js';
import { WebvitError } from '../errors.js';
import { crossOrigin, why, type ExternalPixels } from './sources.js';

/**
 * Texture → preprocessor band: one compute pass reads rows of an rgba8unorm texture (textureLoad,
 * exact k/255 values) and writes them as packed 8-bit RGBA (pack4x8unorm rounds k/255 back to
 * exactly k), width × 4 bytes a row, which is what the preprocessor's resize passes read. A plain
 * copyTextureToBuffer would need rows padded to 256 bytes, which the band layout does not have.
 */
const WGSL = /* wgsl */ `
struct Params { width: u32, row0: u32, count: u32, stride: u32 }
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> band: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.y * p.stride + id.x;
  if (i >= p.count) { return; }
  let x = i % p.width;
  let y = p.row0 + i / p.width;
  band[i] = pack4x8unorm(textureLoad(src, vec2<u32>(x, y), 0));
}
`;

const WORKGROUP = 64;
/** Largest texture kept between calls (see trim). */
export const KEEP_BYTES = 16 << 20;
const MAX_GROUPS_X = 32768;

/**
 * Uploads DOM images (ImageBitmap, canvas, video, VideoFrame) into one reusable texture and turns
 * a texture into the preprocessor's GpuRgbaImage. The texture grows to the largest image seen
 * and is kept; uploads and reads are queue operations, so an image uploaded after the previous
 * image's passes were submitted never overwrites pixels those passes still read.
 */
export class TextureRows {
  private pipeline?: GPUComputePipeline;
  private params?: GPUBuffer;
  private texture?: GPUTexture;

  constructor(readonly device: GPUDevice, readonly label = 'webvit.texture') {}

  /** Textures held now and their bytes (for stats). */
  get held(): { textures: number; bytes: number } {
    const t = this.texture;
    return t ? { textures: 1, bytes: 4 * t.width * t.height } : { textures: 0, bytes: 0 };
  }

  /** Uploads `px` (unpremultiplied, as the file's bytes: no colour-space conversion) and returns its rows. */
  upload(px: ExternalPixels, name: string): GpuRgbaImage {
    const { width, height } = px;
    this.checkSize(width, height, name);
    const texture = this.textureFor(width, height);
    try {
      this.device.queue.copyExternalImageToTexture({ source: px.source, flipY: false }, { texture, premultipliedAlpha: false, colorSpace: 'srgb' }, { width, height });
    } catch (e) {
      // A tainted (cross-origin) source is a SecurityError; closed bitmaps and frames were refused
      // before (sources.ts), and a canvas without a context is read through its ImageBitmap.
      throw (e as Error)?.name === 'SecurityError' ? crossOrigin(name, e) : new WebvitError('BAD_INPUT', `${name}: its pixels cannot be read (${why(e)})`, { cause: e });
    }
    return this.rows(texture, width, height);
  }

  /** Refuses, before any GPU work, a source this path cannot take (size, texture format). */
  check(px: ExternalPixels | GPUTexture, name: string): void {
    if ('source' in px) this.checkSize(px.width, px.height, name);
    else this.checkTexture(px, name);
  }

  /** Rows of a texture the app (or a test) already has: rgba8unorm with TEXTURE_BINDING usage. */
  fromTexture(texture: GPUTexture, name: string): GpuRgbaImage {
    this.checkTexture(texture, name);
    return this.rows(texture, texture.width, texture.height);
  }

  /**
   * Refuses a texture of another GPUDevice. A texture does not say which device made it, so a view
   * of it is bound on this one in a validation error scope: the only error there is the device.
   */
  async checkDevice(texture: GPUTexture, name: string): Promise<void> {
    if (this.ours.has(texture)) return;
    this.checkTexture(texture, name);
    const device = this.device;
    this.probeLayout ??= device.createBindGroupLayout({
      label: `${this.label}.device-check`,
      entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, texture: { sampleType: 'unfilterable-float' } }],
    });
    device.pushErrorScope('validation');
    device.createBindGroup({ label: `${this.label}.device-check`, layout: this.probeLayout, entries: [{ binding: 0, resource: texture.createView() }] });
    if (await device.popErrorScope()) throw new WebvitError('BAD_INPUT', `${name}: the texture belongs to another GPUDevice; pass the classifier's device or an ImageBitmap`);
    this.ours.add(texture);
  }

  /** Textures checkDevice found on this device. */
  private readonly ours = new WeakSet<GPUTexture>();
  private probeLayout?: GPUBindGroupLayout;

  private checkTexture(texture: GPUTexture, name: string): void {
    if (texture.format !== 'rgba8unorm') {
      throw new WebvitError('BAD_INPUT', `${name}: a GPUTexture source must be rgba8unorm, got ${texture.format}; copy it into an rgba8unorm texture first`);
    }
    if (!(texture.usage & GPUTextureUsage.TEXTURE_BINDING)) throw new WebvitError('BAD_INPUT', `${name}: a GPUTexture source needs TEXTURE_BINDING usage`);
    if (texture.dimension !== '2d' || texture.depthOrArrayLayers !== 1) throw new WebvitError('BAD_INPUT', `${name}: a GPUTexture source must be one 2D layer`);
  }

  /**
   * Drops the texture when it holds more than KEEP_BYTES (called after each call): a video's
   * frames (1920×1080 is 8 MB) reuse one texture, while one big photo does not leave 100 MB or
   * more on the GPU for the rest of the page's life. Destroying waits for submitted work.
   */
  trim(): void {
    const t = this.texture;
    if (t && 4 * t.width * t.height > KEEP_BYTES) {
      t.destroy();
      this.texture = undefined;
    }
  }

  /** Frees the texture and the parameter buffer. */
  dispose(): void {
    this.texture?.destroy();
    this.params?.destroy();
    this.texture = this.params = undefined;
  }

  private checkSize(width: number, height: number, name: string): void {
    const max = this.device.limits.maxTextureDimension2D;
    if (!(width >= 1 && height >= 1)) throw new WebvitError('BAD_INPUT', `${name}: has no pixels (${width}×${height}); an image that has not loaded, or a video before 'loadeddata'?`);
    if (width > max || height > max) {
      throw new WebvitError('BAD_INPUT', `${name}: is ${width}×${height}, larger than this GPU's textures (at most ${max} a side); scale it down first`);
    }
  }

  private textureFor(width: number, height: number): GPUTexture {
    const t = this.texture;
    if (t && t.width >= width && t.height >= height) return t;
    // Destroying a texture waits for the work already submitted that uses it.
    t?.destroy();
    this.texture = this.device.createTexture({
      label: `${this.label}.pixels`,
      size: { width: Math.max(width, t?.width ?? 0), height: Math.max(height, t?.height ?? 0) },
      format: 'rgba8unorm',
      usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.RENDER_ATTACHMENT,
    });
    return this.texture;
  }

  private rows(texture: GPUTexture, width: number, height: number): GpuRgbaImage {
    const device = this.device;
    return {
      width,
      height,
      copyRows: (encoder, band, row0, rows) => {
        const count = width * rows;
        if (row0 < 0 || row0 + rows > height || 4 * count > band.size) {
          throw new WebvitError('BAD_ARGUMENT', `${this.label}: rows ${row0}..${row0 + rows} of a ${width}×${height} image do not fit a ${band.size}-byte band`);
        }
        const groups = Math.ceil(count / WORKGROUP);
        const gx = Math.min(groups, MAX_GROUPS_X);
        const gy = Math.ceil(groups / gx);
        // Queue order: this write lands before the submit that holds this pass, and after the
        // submit of the previous band's pass.
        device.queue.writeBuffer(this.paramsBuffer(), 0, new Uint32Array([width, row0, count, gx * WORKGROUP]));
        const pipeline = this.pipelineFor();
        const bind = device.createBindGroup({
          label: `${this.label}.bind`,
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: texture.createView() },
            { binding: 1, resource: { buffer: band, offset: 0, size: Math.max(4, 4 * count) } },
            { binding: 2, resource: { buffer: this.paramsBuffer() } },
          ],
        });
        const pass = encoder.beginComputePass({ label: `${this.label}.rows@${row0}` });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(gx, gy);
        pass.end();
      },
    };
  }

  private paramsBuffer(): GPUBuffer {
    this.params ??= this.device.createBuffer({ label: `${this.label}.params`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    return this.params;
  }

  private pipelineFor(): GPUComputePipeline {
    this.pipeline ??= this.device.createComputePipeline({
      label: `${this.label}.unpack`,
      layout: 'auto',
      compute: { module: this.device.createShaderModule({ label: `${this.label}.unpack`, code: WGSL }), entryPoint: 'main' },
    });
    return this.pipeline;
  }
}
