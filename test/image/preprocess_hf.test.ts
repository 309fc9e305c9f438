import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { ImagePreprocessor, type RgbaImage } from '../../src/image/preprocessor.js';
import { preprocessRef } from '../../src/kernels/preprocess/reference.js';
import { preprocessFromHf } from '../../src/model/convert/hf_preprocess.js';
import { normalisationTable, parsePreprocess, preprocessGeometry, type PreprocessConfig } from '../../src/image/preprocess.js';
import { preprocessMetadata } from '../../src/image/preprocess_text.js';
import type { ViTConfig } from '../../src/model/config.js';
import { logMeasured } from '../helpers/compare.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';

/**
 * Hugging Face preprocessing on the GPU (preprocessor_config.json → webvit.preprocess → the
 * preprocess kernels) against transformers' PIL image processors.
 *
 * Debian 12 has no python3-transformers, so the expected outputs come from
 * tools/make_hf_preprocess_fixtures.py, which does the processors' steps with PIL and numpy as
 * transformers' image_transforms.py does them (test/fixtures/preprocess_hf/manifest.json).
 *
 * Tolerances.
 * - Against those outputs: identical float32 values (tolerance 0). The resize is Pillow's integer
 *   arithmetic on both sides, the crop is an index, and the normalisation table holds HF's float32
 *   value of each level (float64 x·rescale_factor cast to float32, then (x − mean)/std in float32),
 *   checked here against the script's table bit for bit. The measured maximum error is printed
 *   with WEBVIT_VERBOSE=1.
 * - Against the float64 reference (src/kernels/preprocess/reference.ts): identical 8-bit levels, and
 *   |GPU − float64| ≤ 1e-6 · max(1, |value|) (float32 rounding; the raw 0–255 outputs need the relative part).
 */
const REF_TOL = 1e-6;

interface FixtureConfig {
  image_size: number;
  processor: Record<string, unknown>;
  lut: number[][];
}
interface FixtureOutput {
  image: string;
  config: string;
  file: string;
  shape: number[];
  size: [number, number];
  sha256: string;
}
const FIX = join(import.meta.dirname, '..', 'fixtures', 'preprocess_hf');
const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as { configs: Record<string, FixtureConfig>; outputs: FixtureOutput[] };

const mapped = (c: FixtureConfig) => preprocessFromHf(c.processor, { image_size: c.image_size, num_channels: 3 }, 'preprocessor_config.json').preprocess;

/** Max |got − want| and the number of values not bit-identical. */
function diff(got: Float32Array, want: Float32Array): { maxAbs: number; differ: number; first: number } {
  let maxAbs = 0;
  let differ = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++) {
    if (Object.is(got[i], want[i])) continue;
    differ++;
    if (first < 0) first = i;
    maxAbs = Number.isFinite(got[i]) ? Math.max(maxAbs, Math.abs(got[i] - want[i])) : Infinity;
  }
  return { maxAbs, differ, first };
}

function checkReference(what: string, config: PreprocessConfig, img: RgbaImage, got: Float32Array, wantLevels?: Uint8Array): void {
  const ref = preprocessRef(img.rgba, preprocessGeometry(config, img.width, img.height), config.interpolation, config.channels, config.mean, config.std, config.rescale);
  if (wantLevels) expect(Buffer.from(ref.levels).equals(Buffer.from(wantLevels)), `${what}: the float64 reference's 8-bit levels differ from the fixture's`).toBe(true);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.values[i]) / Math.max(1, Math.abs(ref.values[i])));
  logMeasured(`HF preprocess ${what}: max |gpu − float64| / max(1, |v|) ${worst.toExponential(3)} (tol ${REF_TOL})`);
  expect(worst, what).toBeLessThanOrEqual(REF_TOL);
}

describe("decoding + preprocessing vs Hugging Face's PIL image processors (test/fixtures/preprocess_hf)", () => {
  it('each config: the normalisation table is HF’s float32 value of every level, bit for bit', () => {
    let rescaleDiffers = 0;
    for (const [name, c] of Object.entries(manifest.configs)) {
      const p = mapped(c);
      const lut = normalisationTable(p);
      const want = Float32Array.from(c.lut.flat());
      const d = diff(lut, want);
      expect(d.differ, `${name}: ${d.differ} table entries differ from HF's (first ${d.first}: ${lut[d.first]} vs ${want[d.first]})`).toBe(0);
      // How often HF's float64 rescale differs from torchvision's float32 x/255 (why `rescale` is its own field).
      if (p.rescale !== undefined && Math.abs(p.rescale - 1 / 255) < 1e-15) {
        const tv = normalisationTable({ ...p, rescale: undefined });
        rescaleDiffers = Math.max(rescaleDiffers, diff(lut, tv).differ);
      }
    }
    logMeasured(`HF rescale (float64 x·(1/255) → float32) vs torchvision (float32 x/255): up to ${rescaleDiffers} of 768 table entries differ in some config`);
  });

  for (const out of manifest.outputs) {
    it(`${out.image.split('/').pop()} (${out.size.join('×')}) with ${out.config}`, async () => {
      const device = await testDevice();
      const c = manifest.configs[out.config];
      const config = mapped(c);
      const img = await decodeImage(readFileSync(join(FIX, out.image)), out.image);
      expect([img.width, img.height]).toEqual(out.size);
      const levels = new Uint8Array(gunzipSync(readFileSync(join(FIX, out.file))));
      const plane = c.image_size * c.image_size;
      const want = Float32Array.from(levels, (v, i) => c.lut[Math.floor(i / plane)][v]);
      // lut[level] is the script's full float32 output, bit for bit.
      expect(createHash('sha256').update(new Uint8Array(want.buffer)).digest('hex'), 'levels + table rebuild the fixture output').toBe(out.sha256);

      const pre = new ImagePreprocessor(device, config, 'test.hf');
      const got = await pre.run([img]);
      await pre.dispose();
      expect(got.length).toBe(want.length);
      const d = diff(got, want);
      logMeasured(`HF preprocess ${out.image} ${out.config}: max abs ${d.maxAbs.toExponential(3)} (tol 0), ${d.differ}/${want.length} values differ`);
      expect(d.differ, `${out.image} ${out.config}: ${d.differ} values differ from HF's (max abs ${d.maxAbs}; first at ${d.first}: ${got[d.first]} vs ${want[d.first]})`).toBe(0);
      checkReference(`${out.image} ${out.config}`, config, img, got, levels);
    });
  }
});

describe('HF geometry on the GPU vs the float64 reference (random images)', () => {
  const base: PreprocessConfig = { resize: null, crop: 48, interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 'rgb', cropOffset: 'floor', rescale: 1 / 255, isDefault: false };
  const cases: [string, number, number, Partial<PreprocessConfig>][] = [
    ['exact resize, downscale and a new aspect: 301×123 → 48×48', 301, 123, { resize: { width: 48, height: 48 } }],
    ['exact resize, upscale, bicubic (overshoot clipped): 23×61 → 48×48', 23, 61, { resize: { width: 48, height: 48 }, interpolation: 'bicubic' }],
    ['exact non-square resize then an odd crop: 200×90 → 71×55, crop 48 (left 11, top 3)', 200, 90, { resize: { width: 71, height: 55 } }],
    ['exact resize smaller than the crop: 100×100 → 41×43, zero padding at floor offsets (left −4, top −3)', 100, 100, { resize: { width: 41, height: 43 } }],
    ['shortest edge with floor offsets: 151×97 → 74×48 (left 13; torchvision 13)', 151, 97, { resize: 48, interpolation: 'bicubic' }],
    ['nearest, exact: 97×31 → 48×48', 97, 31, { resize: { width: 48, height: 48 }, interpolation: 'nearest' }],
    ['greyscale (PIL L), exact, no rescale, mean/std on 0–255', 64, 80, { resize: { width: 48, height: 48 }, channels: 'grayscale', mean: [127.5], std: [127.5], rescale: 1 }],
  ];
  for (const [name, w, h, partial] of cases) {
    it(name, async () => {
      const device = await testDevice();
      const seed = freshSeed();
      const r = rng(seed);
      const config = { ...base, ...partial };
      const img = { width: w, height: h, rgba: Uint8Array.from({ length: 4 * w * h }, () => Math.floor(256 * r())) };
      // Tiny bindings: the image goes through in bands of rows, as large ones do.
      const pre = new ImagePreprocessor(device, config, 'test.hf', 4 * w * 7);
      const got = await pre.run([img]);
      await pre.dispose();
      const ref = preprocessRef(img.rgba, preprocessGeometry(config, w, h), config.interpolation, config.channels, config.mean, config.std, config.rescale);
      const lut = normalisationTable(config);
      const plane = config.crop * config.crop;
      const offLevel = [...got].findIndex((v, i) => !Object.is(v, lut[Math.floor(i / plane) * 256 + ref.levels[i]]));
      expect(offLevel, `${name}: value ${offLevel} is not the table's value at the reference's 8-bit level; seed ${seed} (WEBVIT_SEED=${seed})`).toBe(-1);
      checkReference(`${name} (seed ${seed})`, config, img, got);
    });
  }

  it('floor offsets differ from torchvision rounding exactly where HF and torchvision differ', () => {
    const hf = { ...base, resize: { width: 55, height: 41 } };
    expect(preprocessGeometry(hf, 10, 10)).toMatchObject({ left: 3, top: -4 }); // (55−48)//2 = 3; (41−48)//2 = −4
    expect(preprocessGeometry({ ...hf, cropOffset: 'round' }, 10, 10)).toMatchObject({ left: 4, top: -3 }); // round-half-even(3.5) = 4; −(7//2) = −3
    expect(preprocessGeometry({ ...hf, resize: { width: 54, height: 42 } }, 10, 10)).toMatchObject({ left: 3, top: -3 }); // even differences agree
    expect(preprocessGeometry({ ...hf, resize: { width: 54, height: 42 }, cropOffset: 'round' }, 10, 10)).toMatchObject({ left: 3, top: -3 });
  });
});

describe('webvit.preprocess: the fields for Hugging Face processors', () => {
  const model = { image_size: 224, num_channels: 3 } as ViTConfig;
  const parse = (o: unknown) => parsePreprocess(JSON.stringify(o), model, 'm.safetensors');

  it('resize {width, height}, crop_offset and rescale parse, and write back as they were; files without them keep their bytes', () => {
    const p = parse({ resize: { width: 224, height: 160 }, crop: 224, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], crop_offset: 'floor', rescale: 0.00392156862745098 });
    expect(p).toEqual({ resize: { width: 224, height: 160 }, crop: 224, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 'rgb', cropOffset: 'floor', rescale: 1 / 255, isDefault: false });
    expect(parse(JSON.parse(preprocessMetadata(p)))).toEqual(p);
    const old = parse({ resize: 256, crop: 224 });
    expect(Object.keys(old)).not.toContain('cropOffset');
    expect(Object.keys(JSON.parse(preprocessMetadata(old)))).toEqual(['resize', 'crop', 'interpolation', 'mean', 'std', 'channels']);
  });

  it('refuses bad values, naming the field and the value', async () => {
    const cases: [unknown, string[]][] = [
      [{ resize: { width: 0, height: 224 } }, ['field resize as an object must be {"width": W, "height": H}', '"width":0']],
      [{ resize: { width: 224 } }, ['field resize as an object', '{"width":224}']],
      [{ resize: { width: 224, height: 224, keep: true } }, ['field resize as an object', '"keep":true']],
      [{ resize: [224, 224] }, ['field resize must be null, an integer', 'or {"width": W, "height": H}', '[224,224]']],
      [{ crop_offset: 'ceil' }, ['field crop_offset must be "round"', '"floor"', 'got "ceil"']],
      [{ rescale: 0 }, ['field rescale must be a positive finite number', 'got 0']],
      [{ rescale: '1/255' }, ['field rescale', 'got "1/255"']],
    ];
    for (const [o, fragments] of cases) await expectWebvitError(() => parse(o), 'BAD_CONFIG', ['m.safetensors', 'webvit.preprocess', ...fragments]);
  });

  it('the table follows rescale: none (x/255), HF 1/255 (the same 768 values), 1 (levels as they are), 1/127.5', () => {
    const base = parse({ mean: [0, 0, 0], std: [1, 1, 1] });
    const tv = normalisationTable(base);
    expect(diff(normalisationTable({ ...base, rescale: 1 / 255 }), tv).differ).toBe(0); // float64 x·(1/255) → float32 equals float32 x/255 at every level
    expect(Array.from(normalisationTable({ ...base, rescale: 1 }).subarray(0, 256))).toEqual([...Array(256).keys()]);
    const half = normalisationTable({ ...base, rescale: 1 / 127.5 });
    for (let v = 0; v < 256; v++) expect(half[v]).toBe(Math.fround(v * (1 / 127.5)));
  });
});
