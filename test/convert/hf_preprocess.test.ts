import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { preprocessFromHf } from '../../src/model/convert/hf_preprocess.js';
import { convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { preprocessGeometry, type PreprocessConfig } from '../../src/image/preprocess.js';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { gunzipSync } from 'node:zlib';
import { testDevice } from '../helpers/gpu.js';
import { WebvitError } from '../../src/errors.js';
import { logMeasured } from '../helpers/compare.js';
import { expectConvertError, LAYOUT_DIR } from './layout_fixtures.js';

// preprocessor_config.json → webvit.preprocess: the mapping of each HF processor class
// (src/model/convert/hf_preprocess.ts), its refusals, and the converter reading the file. That the
// mapped preprocessing gives HF's pixels is tested on the GPU in test/image/preprocess_hf.test.ts.

const RGB224 = { image_size: 224, num_channels: 3 };
const map = (pc: Record<string, unknown>, config = RGB224) => preprocessFromHf(pc, config, 'preprocessor_config.json');
const refuse = (pc: Record<string, unknown>, fragments: string[], config = RGB224) =>
  expectConvertError(() => map(pc, config), ['preprocessor_config.json', ...fragments, '--preprocessor-config none'], 'BAD_CONFIG');

const HALF = [0.5, 0.5, 0.5];
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

describe('preprocessor_config.json → webvit.preprocess', () => {
  it('ViTImageProcessor (google/vit-base-patch16-224, both the old ViTFeatureExtractor file and the current one): resize to 224×224, aspect not kept, no crop', () => {
    const old = map({ do_normalize: true, do_resize: true, feature_extractor_type: 'ViTFeatureExtractor', image_mean: HALF, image_std: HALF, resample: 2, size: 224 });
    const cur = map({
      do_normalize: true,
      do_rescale: true,
      do_resize: true,
      image_mean: HALF,
      image_processor_type: 'ViTImageProcessor',
      image_std: HALF,
      resample: 2,
      rescale_factor: 0.00392156862745098,
      size: { height: 224, width: 224 },
    });
    const want: PreprocessConfig = { resize: { width: 224, height: 224 }, crop: 224, interpolation: 'bilinear', mean: HALF, std: HALF, channels: 'rgb', cropOffset: 'floor', rescale: 1 / 255, isDefault: false };
    expect(old.preprocess).toEqual(want);
    expect(cur.preprocess).toEqual(want);
    expect(cur.notes[0]).toContain('preprocessing from preprocessor_config.json (ViTImageProcessor): resize to 224×224 (aspect not kept, bilinear), centre crop 224');
    // A 640×480 photo becomes 224×224 whole: no crop offset.
    expect(preprocessGeometry(cur.preprocess, 640, 480)).toMatchObject({ resizeW: 224, resizeH: 224, left: 0, top: 0, crop: 224 });
    // The class's own defaults when the file leaves fields out (ViT: 224×224 bilinear, mean/std 0.5).
    expect(map({ image_processor_type: 'ViTImageProcessor' }).preprocess).toEqual(want);
    expect(map({}).notes).toContain('no image_processor_type: read as ViTImageProcessor (the processor of model_type "vit")');
  });

  it('DeiT (facebook/deit-base-patch16-224): resize to 256×256 bicubic, then centre crop 224', () => {
    const r = map({ crop_size: 224, do_center_crop: true, do_normalize: true, do_resize: true, feature_extractor_type: 'DeiTFeatureExtractor', image_mean: IMAGENET.mean, image_std: IMAGENET.std, resample: 3, size: 256 });
    expect(r.preprocess).toMatchObject({ resize: { width: 256, height: 256 }, crop: 224, interpolation: 'bicubic', ...IMAGENET, cropOffset: 'floor', rescale: 1 / 255 });
    expect(preprocessGeometry(r.preprocess, 500, 300)).toMatchObject({ resizeW: 256, resizeH: 256, left: 16, top: 16 });
    // BEiT: the same steps.
    expect(map({ image_processor_type: 'BeitImageProcessor', size: { height: 224, width: 224 }, do_center_crop: false, do_reduce_labels: false }).preprocess).toMatchObject({
      resize: { width: 224, height: 224 },
      interpolation: 'bicubic',
      mean: HALF,
    });
  });

  it('CLIP: shortest edge, centre crop with floor offsets (not torchvision rounding); ConvNeXt: crop_pct, or a warp at ≥ 384', () => {
    const clip = map({ image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 224 }, crop_size: { height: 224, width: 224 }, do_convert_rgb: true });
    expect(clip.preprocess).toMatchObject({ resize: 224, crop: 224, interpolation: 'bicubic', mean: [0.48145466, 0.4578275, 0.40821073], cropOffset: 'floor' });
    // 300×231 → 290×224 (int(224·300/231) = 290): (290 − 224)/2 = 33; 301×224 → (301−224)/2 = 38.5: HF 38, torchvision 38 (half-even); 231: 3.5 → HF 3, torchvision 4.
    expect(preprocessGeometry(clip.preprocess, 300, 231)).toMatchObject({ resizeW: 290, resizeH: 224, left: 33, top: 0 });
    expect(preprocessGeometry(clip.preprocess, 231, 224)).toMatchObject({ resizeW: 231, resizeH: 224, left: 3, top: 0 });
    expect(preprocessGeometry({ ...clip.preprocess, cropOffset: undefined }, 231, 224)).toMatchObject({ left: 4 });
    const cn = map({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0.875, resample: 3 });
    expect(cn.preprocess).toMatchObject({ resize: 256, crop: 224, cropOffset: 'floor' });
    expect(map({ image_processor_type: 'ConvNextImageProcessor', size: 384 }, { image_size: 384, num_channels: 3 }).preprocess).toMatchObject({ resize: { width: 384, height: 384 }, crop: 384 });
  });

  it('null fields as HF reads them: a null size or mean takes the class default, a null do_* flag is false, a null resample is refused when resizing', async () => {
    expect(map({ size: null, image_mean: null, image_std: null }).preprocess).toMatchObject({ resize: { width: 224, height: 224 }, mean: HALF, std: HALF });
    expect(map({ do_normalize: null, do_rescale: null }).preprocess).toMatchObject({ rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    expect(map({ image_processor_type: 'DeiTImageProcessor', size: 224, do_center_crop: null }).preprocess).toMatchObject({ resize: { width: 224, height: 224 }, crop: 224 });
    await refuse({ resample: null }, ['resample must be a PIL resampling code', 'got null']);
    expect(map({ do_resize: false, resample: null, size: 224 }).preprocess).toMatchObject({ resize: null, crop: 224 });
    await refuse({ rescale_factor: null }, ['rescale_factor must be a positive number', 'got null']);
  });

  it('do_rescale / do_normalize false, scalar mean/std, a 1-channel model', () => {
    expect(map({ do_rescale: false, do_normalize: false }).preprocess).toMatchObject({ rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    expect(map({ image_mean: 0.5, image_std: 0.25 }).preprocess).toMatchObject({ mean: HALF, std: [0.25, 0.25, 0.25] });
    expect(map({ image_mean: [0.3], image_std: [0.2], size: 28 }, { image_size: 28, num_channels: 1 }).preprocess).toMatchObject({ channels: 'grayscale', mean: [0.3], std: [0.2] });
  });

  it('says what it ignored, the Fast variant, and do_convert_rgb', () => {
    const r = map({ image_processor_type: 'ViTImageProcessorFast', crop_pct: 0.9, do_center_crop: true, processor_class: 'X' });
    expect(r.notes.join('\n')).toContain('ignored (ViTImageProcessor does not read them either): crop_pct, do_center_crop');
    expect(r.notes.join('\n')).toContain('ViTImageProcessorFast: reproduced as ViTImageProcessor, the PIL-based processor');
    expect(r.notes.join('\n')).toContain('do_convert_rgb is not set');
    expect(r.preprocess.resize).toEqual({ width: 224, height: 224 }); // do_center_crop is not a ViT field
  });

  it('refuses what it cannot reproduce, naming the field and the value', async () => {
    await refuse({ resample: 1 }, ['resample is 1 (PIL LANCZOS)', 'NEAREST (0), BILINEAR (2) and BICUBIC (3)']);
    await refuse({ resample: 4 }, ['resample is 4 (PIL BOX)']);
    await refuse({ resample: 5 }, ['resample is 5 (PIL HAMMING)']);
    await refuse({ resample: 7 }, ['resample must be a PIL resampling code', 'got 7']);
    await refuse({ size: { height: 384, width: 384 } }, ['size is {height: 384, width: 384} without a centre crop', "image_size is 224"]);
    await refuse({ size: { height: 224, width: 160 } }, ['size is {height: 224, width: 160}']);
    await refuse({ size: { shortest_edge: 224 } }, ['size is {shortest_edge: 224}', 'ViTImageProcessor resizes to {height, width} only']);
    await refuse({ size: { shortest_edge: 224, longest_edge: 1333 } }, ['longest_edge', 'not supported']);
    await refuse({ size: '224' }, ['size must be an integer', 'got "224"']);
    await refuse({ image_processor_type: 'DeiTImageProcessor', crop_size: 192 }, ['crop_size is 192', "image_size is 224"]);
    await refuse({ image_processor_type: 'DeiTImageProcessor', crop_size: { height: 224, width: 200 } }, ['crop_size is {height: 224, width: 200}', 'square']);
    await refuse({ image_processor_type: 'CLIPImageProcessor', do_center_crop: false }, ['without a centre crop', 'aspect ratio']);
    await refuse({ image_processor_type: 'Owlv2ImageProcessor' }, ['image_processor_type is "Owlv2ImageProcessor"', 'ViTImageProcessor, DeiTImageProcessor']);
    await refuse({ rescale_factor: 'x' }, ['rescale_factor must be a positive number', 'got "x"']);
    await refuse({ image_mean: [0.5, 0.5] }, ['image_mean must be a number or 3 number(s)', 'num_channels 3']);
    await refuse({ image_std: [0.5, 0, 0.5] }, ['image_std must be positive']);
    // Settings whose pixels float32 cannot take inside the model (~1e19 and beyond: before, a
    // converted model gave every image the same answer), in HF's field names.
    await refuse({ image_std: 1e-30 }, ['image_std[0] 1e-30 (image_mean[0] 0.5, rescale_factor 0.00392', 'normalises 8-bit level 0 to -5.00e+29', 'beyond ±1000000', 'fix image_mean/image_std/rescale_factor']);
    await refuse({ image_std: [0.5, 1e-20, 0.5] }, ['image_std[1] 1e-20', 'e+19']);
    await refuse({ rescale_factor: 1e30 }, ['image_std[0] 0.5 (image_mean[0] 0.5, rescale_factor 1e+30)', 'level 1 to 2.00e+30']);
    await refuse({ do_rescale: false, image_std: 1e-4, image_mean: 0 }, ['rescale_factor 1)', 'level 101 to 1010000']);
    // The mirror (issue 17): a std or rescale that squeezes all 256 levels onto one value; every
    // image then looked the same to a converted model.
    await refuse({ image_std: 1e30 }, ['image_std[0] 1e+30 (image_mean[0] 0.5, rescale_factor 0.00392', 'adjacent 8-bit levels 3.92e-33 apart, below 1e-5', 'fix image_std/rescale_factor']);
    await refuse({ image_std: [0.5, 3e38, 0.5] }, ['image_std[1] 3e+38', 'below 1e-5']);
    await refuse({ rescale_factor: 1e-30 }, ['image_std[0] 0.5 (image_mean[0] 0.5, rescale_factor 1e-30)', 'below 1e-5']);
    await refuse({ rescale_factor: 1e-320 }, ['rescale_factor 1e-320)', 'below 1e-5']);
    await refuse({ image_std: 500 }, ['image_std[0] 500', 'levels 7.84e-6 apart']);
    await refuse({ do_resize: 'yes' }, ['do_resize must be true or false', 'got "yes"']);
    await refuse({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0 }, ['crop_pct must be a positive number']);
  });
});

describe('preprocessor_config.json fuzzed', () => {
  it('any mix of field values maps or is refused with a one-line BAD_CONFIG naming the file, never another error', () => {
    const value = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -3, max: 70000 }),
      fc.double({ noNaN: true }),
      fc.constantFrom(0, 1, 2, 3, 4, 5, 224, 0.875, 1 / 255, 'bilinear', '224'),
      fc.array(fc.oneof(fc.double({ noNaN: true }), fc.integer({ min: 0, max: 400 }), fc.string()), { maxLength: 4 }),
      fc.record({ height: fc.integer({ min: -1, max: 500 }), width: fc.integer({ min: -1, max: 500 }) }),
      fc.record({ shortest_edge: fc.integer({ min: -1, max: 500 }) }),
      fc.dictionary(fc.constantFrom('height', 'width', 'shortest_edge', 'longest_edge', 'x'), fc.oneof(fc.integer({ min: 0, max: 400 }), fc.string()), { maxKeys: 3 }),
    );
    const fields = ['image_processor_type', 'feature_extractor_type', 'do_resize', 'size', 'resample', 'do_rescale', 'rescale_factor', 'do_normalize', 'image_mean', 'image_std', 'do_center_crop', 'crop_size', 'crop_pct', 'do_convert_rgb', 'other'];
    const types = fc.constantFrom('ViTImageProcessor', 'DeiTFeatureExtractor', 'BeitImageProcessor', 'CLIPImageProcessor', 'ConvNextImageProcessorFast', 'Nope');
    const pc = fc.dictionary(fc.constantFrom(...fields), value, { maxKeys: 8 }).chain((d) => types.map((t) => ({ image_processor_type: t, ...d })));
    const model = fc.record({ image_size: fc.constantFrom(224, 256, 384, 32), num_channels: fc.constantFrom(1, 3) });
    let mapped = 0;
    fc.assert(
      fc.property(pc, model, (p, m) => {
        try {
          const r = preprocessFromHf(p, m, 'pc.json');
          expect(r.preprocess.crop).toBe(m.image_size);
          mapped++;
        } catch (e) {
          if (!(e instanceof WebvitError) || e.code !== 'BAD_CONFIG' || !e.message.startsWith('pc.json: ') || e.message.includes('\n')) throw e;
        }
      }),
      { numRuns: Number(process.env.WEBVIT_FUZZ_RUNS ?? 3000) },
    );
    logMeasured(`preprocessor_config.json fuzz: ${mapped} of ${process.env.WEBVIT_FUZZ_RUNS ?? 3000} configs mapped, the rest refused`);
    expect(mapped, 'some configs map').toBeGreaterThan(0);
  });
});

describe('webvit convert reads preprocessor_config.json', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'webvit-hf-pre-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  /** A copy of the HF layout fixture (image_size 32), with `pc` as its preprocessor_config.json when given. */
  const folder = (pc?: Record<string, unknown>) => {
    const dir = join(tmp, `hf-${n++}`);
    cpSync(join(LAYOUT_DIR, 'hf'), dir, { recursive: true });
    if (pc) writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(pc));
    return dir;
  };
  const VIT32 = { image_processor_type: 'ViTImageProcessor', size: { height: 32, width: 32 }, resample: 3, image_mean: HALF, image_std: HALF };

  it('beside config.json: mapped, written to the weight file, said in the notes; the loader reads it back', async () => {
    const dir = folder(VIT32);
    const ckpt = await readCheckpoint(dir);
    expect(ckpt.files).toContain(join(dir, 'preprocessor_config.json'));
    const r = convertCheckpoint(ckpt);
    expect(r.notes.find((l) => l.startsWith('preprocessing from'))).toContain('(ViTImageProcessor): resize to 32×32 (aspect not kept, bicubic)');
    const w = readWeights(encodeWeights(r.weights, 'F32', r.metadata), 'w.safetensors');
    expect(w.preprocess).toEqual({ resize: { width: 32, height: 32 }, crop: 32, interpolation: 'bicubic', mean: HALF, std: HALF, channels: 'rgb', cropOffset: 'floor', rescale: 1 / 255, isDefault: false });
  });

  it('without one: no webvit.preprocess (the defaults, as before), and a note; --preprocessor-config none skips it; a named file is read', async () => {
    const plain = convertCheckpoint(await readCheckpoint(folder()));
    expect(plain.metadata?.['webvit.preprocess']).toBeUndefined();
    expect(plain.notes.join('\n')).toContain('no preprocessor_config.json');
    const skipped = convertCheckpoint(await readCheckpoint(folder(VIT32), { preprocessorConfig: 'none' }));
    expect(skipped.metadata?.['webvit.preprocess']).toBeUndefined();
    const elsewhere = join(tmp, 'mine.json');
    writeFileSync(elsewhere, JSON.stringify({ ...VIT32, resample: 0 }));
    const named = convertCheckpoint(await readCheckpoint(folder(VIT32), { preprocessorConfig: elsewhere }));
    expect(JSON.parse(named.metadata!['webvit.preprocess']).interpolation).toBe('nearest');
    await expectConvertError(() => readCheckpoint(folder(), { preprocessorConfig: join(tmp, 'absent.json') }), ['absent.json', 'cannot read the preprocessor config', 'ENOENT']);
  });

  it('with --image-size the file is not used (it prepares images for the old size), and says so; a bad file is refused', async () => {
    const r = convertCheckpoint(await readCheckpoint(folder(VIT32)), { imageSize: 48 });
    expect(r.metadata?.['webvit.preprocess']).toBeUndefined();
    expect(r.notes.join('\n')).toMatch(/preprocessor_config\.json not used: it prepares 32×32 images and the model now runs at 48/);
    const dir = folder();
    writeFileSync(join(dir, 'preprocessor_config.json'), '{"size": ');
    await expectConvertError(() => readCheckpoint(dir), ['preprocessor_config.json', 'is not valid JSON']);
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(folder({ ...VIT32, resample: 1 }))), ['resample is 1 (PIL LANCZOS)'], 'BAD_CONFIG');
  });

  it('a named preprocessor config with a non-HF checkpoint is refused; one found beside it is left out with a note', async () => {
    const dir = join(tmp, 'timm');
    cpSync(join(LAYOUT_DIR, 'timm_cls'), dir, { recursive: true });
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(VIT32));
    const found = convertCheckpoint(await readCheckpoint(dir), { heads: 4 });
    expect(found.notes.join('\n')).toContain('not used: a Hugging Face image processor, and this checkpoint is timm');
    await expectConvertError(async () => convertCheckpoint(await readCheckpoint(dir, { preprocessorConfig: join(dir, 'preprocessor_config.json') }), { heads: 4 }), ['--preprocessor-config applies to Hugging Face checkpoints']);
  });

  it('the CLI prints what it used and writes it; -o over preprocessor_config.json is refused', () => {
    const ROOT = join(import.meta.dirname, '..', '..');
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
    const dir = folder(VIT32);
    const out = join(tmp, 'cli.safetensors');
    const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', dir, '-o', out], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^webvit convert: preprocessing from .*preprocessor_config\.json \(ViTImageProcessor\): resize to 32×32 \(aspect not kept, bicubic\)/m);
    expect(readWeights(new Uint8Array(readFileSync(out)), out).preprocess).toMatchObject({ resize: { width: 32, height: 32 }, cropOffset: 'floor' });
    const over = spawnSync(process.execPath, ['dist/cli.js', 'convert', dir, '-o', join(dir, 'preprocessor_config.json')], { cwd: ROOT, encoding: 'utf8' });
    expect(over.status).toBe(2);
    expect(over.stderr).toContain('preprocessor_config.json');
  });

  it('the CLI refuses image_std 1e-30 and rescale_factor 1e30 (exit 1, the field and value, no output file)', () => {
    const ROOT = join(import.meta.dirname, '..', '..');
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
    for (const [pc, say] of [[{ image_std: 1e-30 }, 'image_std[0] 1e-30'], [{ rescale_factor: 1e30 }, 'rescale_factor 1e+30'], [{ image_std: 1e30 }, 'image_std[0] 1e+30'], [{ rescale_factor: 1e-30 }, 'rescale_factor 1e-30']] as const) {
      const out = join(tmp, 'overflow.safetensors');
      const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', folder({ ...VIT32, ...pc }), '-o', out], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(say);
      expect(r.stderr).toContain('--preprocessor-config none');
      expect(existsSync(out)).toBe(false);
    }
  });

  it('end to end: convert with a ViTImageProcessor config, then `webvit classify` gives what forward() gives on HF’s own pixels', async () => {
    // The fixture config vit32_norescale (ViT, 32×32 bilinear, no rescale, mean/std 127.5) fits the
    // HF layout fixture (image_size 32); its expected pixels for coffee_257x187.jpg come from
    // tools/make_hf_preprocess_fixtures.py (HF's steps with PIL + numpy).
    const ROOT = join(import.meta.dirname, '..', '..');
    const FIX = join(ROOT, 'test', 'fixtures', 'preprocess_hf');
    const m = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8'));
    const c = m.configs.vit32_norescale;
    const out = m.outputs.find((o: { config: string }) => o.config === 'vit32_norescale');
    const levels = gunzipSync(readFileSync(join(FIX, out.file)));
    const pixels = Float32Array.from(levels, (v, i) => c.lut[Math.floor(i / (32 * 32))][v]);
    const dir = folder(c.processor);
    const model = join(tmp, 'e2e.safetensors');
    const conv = spawnSync(process.execPath, ['dist/cli.js', 'convert', dir, '-o', model], { cwd: ROOT, encoding: 'utf8' });
    expect(conv.status, conv.stderr).toBe(0);
    const cls = spawnSync(process.execPath, ['dist/cli.js', 'classify', join(FIX, out.image), '--model', model, '--json', '--top', '10', '--no-tune'], { cwd: ROOT, encoding: 'utf8' });
    expect(cls.status, cls.stderr).toBe(0);
    const top = JSON.parse(cls.stdout.trim()).top as { index: number; p: number }[];
    const device = await testDevice();
    const vit = await ViTModel.load(device, new Uint8Array(readFileSync(model)));
    const { logits } = await vit.forward(pixels);
    await vit.dispose();
    const max = Math.max(...logits);
    const e = Array.from(logits, (l) => Math.exp(l - max));
    const sum = e.reduce((a, b) => a + b, 0);
    const want = e.map((v, i) => ({ index: i, p: v / sum })).sort((a, b) => b.p - a.p || a.index - b.index);
    expect(top.map((t) => t.index)).toEqual(want.map((t) => t.index));
    for (let i = 0; i < top.length; i++) expect(Math.abs(top[i].p - want[i].p), `class ${top[i].index}`).toBeLessThanOrEqual(1e-5);
  });
});
