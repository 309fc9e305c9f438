import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { ImagePreprocessor } from '../../src/image/preprocessor.js';
import { preprocessLayout, resampleH, resampleV } from '../../src/kernels/preprocess/op.js';
import { preprocessRef } from '../../src/kernels/preprocess/reference.js';
import { luma8 } from '../../src/kernels/preprocess/resample.js';
import { normalisationTable, preprocessGeometry, type ChannelMode, type Interpolation, type PreprocessConfig } from '../../src/image/preprocess.js';
import { runDispatch, testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { logMeasured } from '../helpers/compare.js';

/**
 * Tolerances.
 * - Against the float64 reference: the resampling is Pillow's integer arithmetic on both sides,
 *   so the 8-bit levels must be identical, and the GPU's values must equal the float32
 *   normalisation table at those levels exactly; |GPU − float64| ≤ 1e-6 (float32 rounding of
 *   (x/255 − mean)/std, |values| < 3).
 * - Against torchvision 0.14 + PIL 9.4 (test/fixtures/preprocess, tools/make_preprocess_fixtures.py):
 *   identical float32 values (tolerance 0). The decoder gives PIL's pixels and the kernels
 *   Pillow's integer resampling, so there is nothing to round differently. The looser bound the
 *   design allows, one 8-bit step ((1/255)/min(std) + 1e-6), is printed next to the measured
 *   error for comparison.
 */
const REF_TOL = 1e-6;

function randomImage(r: () => number, w: number, h: number, smooth: boolean): Uint8Array {
  const a = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        // Smooth gradients with noise (photo-like) or raw noise (every level, lots of clipping for bicubic).
        const v = smooth ? 127 + 100 * Math.sin((x + 3 * c) / 7) * Math.cos((y - c) / 5) + 40 * (r() - 0.5) : 256 * r();
        a[(y * w + x) * 4 + c] = Math.max(0, Math.min(255, Math.floor(v)));
      }
    }
  }
  return a;
}

function pp(p: Partial<PreprocessConfig> & Pick<PreprocessConfig, 'crop' | 'channels'>): PreprocessConfig {
  const rgb = p.channels === 'rgb';
  return {
    resize: null,
    interpolation: 'bilinear',
    mean: rgb ? [0.485, 0.456, 0.406] : [0.286],
    std: rgb ? [0.229, 0.224, 0.225] : [0.353],
    isDefault: false,
    ...p,
  };
}

/** Runs the two dispatches on their own (as the kernel tests of other ops do), output poisoned, written at image slot `slot` of a 2-image batch. */
async function runKernels(config: PreprocessConfig, w: number, h: number, rgba: Uint8Array, slot: number) {
  const device = await testDevice();
  const L = preprocessLayout(preprocessGeometry(config, w, h), config.interpolation, config.channels);
  const C = config.channels === 'rgb' ? 1 + 2 : 1;
  const per = C * config.crop * config.crop;
  const asF32 = (a: Uint8Array | Int32Array) => new Float32Array(a.buffer, a.byteOffset, a.byteLength / 4);
  const pixels = asF32(rgba.slice(L.row0 * w * 4, (L.row0 + L.rows) * w * 4));
  const tmp = await runDispatch(device, (b) => resampleH({ label: 'test.pre.h', layout: L, pixels: b.pixels, htab: b.htab, tmp: b.tmp }), {
    inputs: { pixels, htab: asF32(L.htab) },
    outputs: { tmp: L.rows * L.cols },
  });
  const out = await runDispatch(
    device,
    (b) => resampleV({ label: 'test.pre.v', layout: L, tmp: b.tmp, vtab: b.vtab, lut: b.lut, out: b.out, outOffset: slot * per }),
    { inputs: { tmp: tmp.tmp, vtab: asF32(L.vtab), lut: normalisationTable(config) }, outputs: { out: 2 * per } },
  );
  return { out: out.out, per, L };
}

function compare(what: string, got: Float32Array, config: PreprocessConfig, ref: { values: Float64Array; levels: Uint8Array }, seed: number) {
  const lut = normalisationTable(config);
  let maxAbs = 0;
  let levelMismatch = 0;
  let firstBad = -1;
  const plane = config.crop * config.crop;
  for (let i = 0; i < got.length; i++) {
    const c = Math.floor(i / plane);
    const d = Math.abs(got[i] - ref.values[i]);
    maxAbs = Number.isFinite(got[i]) ? Math.max(maxAbs, d) : Infinity;
    if (!Object.is(got[i], lut[c * 256 + ref.levels[i]])) {
      levelMismatch++;
      if (firstBad < 0) firstBad = i;
    }
  }
  logMeasured(`preprocess ${what}: max |gpu − float64| ${maxAbs.toExponential(3)} (tol ${REF_TOL}), ${levelMismatch} values off Pillow's 8-bit levels`);
  const at = firstBad >= 0 ? `; first at ${firstBad}: got ${got[firstBad]}, want level ${ref.levels[firstBad]} = ${lut[Math.floor(firstBad / plane) * 256 + ref.levels[firstBad]]}` : '';
  expect(levelMismatch, `${what}: seed ${seed} (WEBVIT_SEED=${seed})${at}`).toBe(0);
  expect(maxAbs, `${what}: seed ${seed}`).toBeLessThanOrEqual(REF_TOL);
}

describe('preprocess kernels vs the reference (Pillow resampling, torchvision crop, normalisation)', () => {
  const cases: [string, number, number, Partial<PreprocessConfig> & Pick<PreprocessConfig, 'crop' | 'channels'>, boolean][] = [
    ['RGB bilinear, downscale 301×123 → 64', 301, 123, { resize: 73, crop: 64, channels: 'rgb', interpolation: 'bilinear' }, true],
    ['RGB bicubic, upscale 37×53 → 96 (noise: overshoot clipped)', 37, 53, { resize: 110, crop: 96, channels: 'rgb', interpolation: 'bicubic' }, false],
    ['RGB bicubic, downscale 257×250 → 224, crop rounding', 257, 250, { resize: 231, crop: 224, channels: 'rgb', interpolation: 'bicubic' }, true],
    ['RGB nearest, 100×61 → 48', 100, 61, { resize: 50, crop: 48, channels: 'rgb', interpolation: 'nearest' }, false],
    ['greyscale (PIL L) bilinear, 93×77 → 28', 93, 77, { resize: 32, crop: 28, channels: 'grayscale', interpolation: 'bilinear' }, true],
    ['greyscale bicubic, noise, 29×400 → 28', 29, 400, { resize: 30, crop: 28, channels: 'grayscale', interpolation: 'bicubic' }, false],
    ['RGB no resize, smaller than the crop (zero padding) 41×70 → 64', 41, 70, { resize: null, crop: 64, channels: 'rgb' }, true],
    ['greyscale no resize, crop only, 45×31 → 28', 45, 31, { resize: null, crop: 28, channels: 'grayscale' }, false],
  ];
  for (const [name, w, h, partial, smooth] of cases) {
    it(name, async () => {
      const seed = freshSeed();
      const config = pp(partial);
      const rgba = randomImage(rng(seed), w, h, smooth);
      const slot = 1;
      const { out, per } = await runKernels(config, w, h, rgba, slot);
      const g = preprocessGeometry(config, w, h);
      const ref = preprocessRef(rgba, g, config.interpolation, config.channels, config.mean, config.std);
      compare(name, out.subarray(slot * per, (slot + 1) * per), config, ref, seed);
      // The other image slot of the batch is untouched (still poison).
      expect(out.subarray(0, per).every((v) => Number.isNaN(v)), 'writes outside its own image slot').toBe(true);
    });
  }

  it('a batch of differently sized images, large ones split into row bands, in one command buffer', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const r = rng(seed);
    const config = pp({ resize: 40, crop: 36, channels: 'rgb', interpolation: 'bicubic' });
    const sizes: [number, number][] = [[120, 90], [36, 36], [17, 300], [64, 65]];
    const images = sizes.map(([w, h]) => ({ width: w, height: h, rgba: randomImage(r, w, h, true) }));
    // 2 KB bindings: the 120-wide image goes in bands of 4 rows, the 17-wide one in bands of 30.
    const pre = new ImagePreprocessor(device, config, 'test.pre', 2048);
    const got = await pre.run(images);
    expect(got.length).toBe(images.length * pre.imageValues);
    images.forEach((img, i) => {
      const ref = preprocessRef(img.rgba, preprocessGeometry(config, img.width, img.height), config.interpolation, config.channels, config.mean, config.std);
      compare(`batch image ${i} (${img.width}×${img.height})`, got.subarray(i * pre.imageValues, (i + 1) * pre.imageValues), config, ref, seed);
    });
  });

  it('default config (no webvit.preprocess): an image already at image_size is not resized', () => {
    const config: PreprocessConfig = { ...pp({ crop: 28, channels: 'grayscale', resize: 32 }), isDefault: true };
    expect(preprocessGeometry(config, 28, 28)).toMatchObject({ resizeW: 28, resizeH: 28, left: 0, top: 0 });
    expect(preprocessGeometry(config, 30, 28)).toMatchObject({ resizeW: 34, resizeH: 32, left: 3, top: 2 });
    expect(preprocessGeometry({ ...config, isDefault: false }, 28, 28)).toMatchObject({ resizeW: 32, resizeH: 32, left: 2, top: 2 });
  });

  it('crop offsets use Python rounding (halves to even), and padding splits as torchvision does', () => {
    const config = pp({ crop: 224, channels: 'rgb' });
    expect(preprocessGeometry(config, 229, 227)).toMatchObject({ left: 2, top: 2 }); // round(2.5) = 2, round(1.5) = 2
    expect(preprocessGeometry(config, 231, 224)).toMatchObject({ left: 4, top: 0 }); // round(3.5) = 4
    expect(preprocessGeometry(config, 221, 100)).toMatchObject({ left: -1, top: -62 }); // pad (224−221)//2 = 1, (224−100)//2 = 62
  });

  it("PIL's L conversion", () => {
    expect(luma8(255, 255, 255)).toBe(255);
    expect(luma8(255, 0, 0)).toBe(76);
    expect(luma8(0, 255, 0)).toBe(150);
    expect(luma8(0, 0, 255)).toBe(29);
    for (let v = 0; v < 256; v++) expect(luma8(v, v, v)).toBe(v);
  });
});

// ------------------------------------------------------------------------------- vs torchvision

interface FixtureConfig {
  resize: number | null;
  crop: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
  channels: ChannelMode;
  lut: number[][];
}
interface FixtureImage {
  note: string;
  mode: string;
  size: [number, number];
  rgb_sha256: string;
  l_sha256: string;
  outputs: Record<string, { file: string; shape: number[] }>;
}
const FIX = join(import.meta.dirname, '..', 'fixtures', 'preprocess');
const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as { configs: Record<string, FixtureConfig>; images: Record<string, FixtureImage> };

describe('decoding + preprocessing vs PIL and torchvision 0.14 (test/fixtures/preprocess)', () => {
  for (const [name, fx] of Object.entries(manifest.images)) {
    it(`${name}: ${fx.note.split('.')[0]}`, async () => {
      const device = await testDevice();
      const img = await decodeImage(readFileSync(join(FIX, 'images', name)), name);
      expect([img.width, img.height]).toEqual(fx.size);
      // Decoding: PIL's convert('RGB') and convert('L') pixels, bit for bit.
      const n = img.width * img.height;
      const rgb = new Uint8Array(3 * n);
      const l = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const [r, g, b] = [img.rgba[4 * i], img.rgba[4 * i + 1], img.rgba[4 * i + 2]];
        rgb.set([r, g, b], 3 * i);
        l[i] = luma8(r, g, b);
      }
      const sha = (a: Uint8Array) => createHash('sha256').update(a).digest('hex');
      expect(sha(rgb), `${name}: decoded RGB differs from PIL's convert('RGB')`).toBe(fx.rgb_sha256);
      expect(sha(l), `${name}: L differs from PIL's convert('L')`).toBe(fx.l_sha256);

      for (const [cname, out] of Object.entries(fx.outputs)) {
        const c = manifest.configs[cname];
        const config: PreprocessConfig = { resize: c.resize, crop: c.crop, interpolation: c.interpolation, mean: c.mean, std: c.std, channels: c.channels, isDefault: false };
        const levels = new Uint8Array(gunzipSync(readFileSync(join(FIX, out.file))));
        const plane = c.crop * c.crop;
        const want = Float32Array.from(levels, (v, i) => c.lut[Math.floor(i / plane)][v]);
        const got = await new ImagePreprocessor(device, config).run([img]);
        expect(got.length).toBe(want.length);
        let maxAbs = 0;
        let differ = 0;
        let maxSteps = 0;
        for (let i = 0; i < want.length; i++) {
          const d = Math.abs(got[i] - want[i]);
          maxAbs = Number.isFinite(got[i]) ? Math.max(maxAbs, d) : Infinity;
          if (d !== 0) differ++;
          maxSteps = Math.max(maxSteps, Math.round((d * c.std[Math.floor(i / plane)]) * 255));
        }
        // Our own normalisation table equals torchvision's float32 values.
        expect(Array.from(normalisationTable(config))).toEqual(c.lut.flat());
        const oneStep = 1 / 255 / Math.min(...c.std) + 1e-6;
        logMeasured(`preprocess vs torchvision ${name} ${cname}: max abs ${maxAbs.toExponential(3)} (tol 0; one 8-bit step would be ${oneStep.toFixed(4)}), ${differ}/${want.length} values differ, max ${maxSteps} 8-bit steps`);
        expect(differ, `${name} ${cname}: ${differ} values differ from torchvision's (max abs ${maxAbs})`).toBe(0);
      }
    });
  }
});
