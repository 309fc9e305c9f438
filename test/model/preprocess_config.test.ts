import { describe, expect, it } from 'vitest';
import { defaultPreprocess, parsePreprocess, IMAGENET_MEAN } from '../../src/image/preprocess.js';
import { preprocessMetadata } from '../../src/image/preprocess_text.js';
import { readWeights } from '../../src/model/weights.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture } from '../helpers/fixtures.js';
import { withHeader } from '../helpers/weight_file.js';

// `webvit.preprocess` in a weight file's metadata: parsed and checked against the model config
// at load; every error names the field with expected and actual values.

const rgb = readWeights(loadFixture('tiny').model, 'tiny').config; // 3 channels, 32 px
const gray = readWeights(loadFixture('tiny_mean').model, 'tiny_mean').config; // 1 channel, 28 px
const parse = (o: unknown, c = rgb) => parsePreprocess(JSON.stringify(o), c, 'm.safetensors');

describe('webvit.preprocess', () => {
  it('defaults when absent: resize round(S·256/224), crop S, bilinear, ImageNet statistics, channels from the model', () => {
    expect(parsePreprocess(undefined, rgb, 'x')).toEqual({
      resize: 37, crop: 32, interpolation: 'bilinear', mean: IMAGENET_MEAN, std: [0.229, 0.224, 0.225], channels: 'rgb', isDefault: true,
    });
    const g = defaultPreprocess(gray);
    expect(g).toMatchObject({ resize: 32, crop: 28, channels: 'grayscale', isDefault: true });
    expect(g.mean).toHaveLength(1);
    expect(g.mean[0]).toBeCloseTo(0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406, 12);
  });

  it('a full entry round-trips, and missing fields take the defaults', () => {
    const p = parse({ resize: 40, crop: 32, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.5], channels: 'rgb' });
    expect(p).toEqual({ resize: 40, crop: 32, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.5], channels: 'rgb', isDefault: false });
    expect(parse(JSON.parse(preprocessMetadata(p)))).toEqual(p);
    expect(parse({ resize: null }, gray)).toMatchObject({ resize: null, crop: 28, channels: 'grayscale', interpolation: 'bilinear', isDefault: false });
  });

  const bad: [string, unknown, (string | number)[], typeof rgb?][] = [
    ['not JSON', '{resize:', ['webvit.preprocess', 'not valid JSON']],
    ['an array', [1, 2], ['must be a JSON object']],
    ['unknown field', { rezise: 256 }, ['unknown field(s) rezise', 'known fields']],
    ['resize not an integer', { resize: 25.5 }, ['field resize', '25.5']],
    ['resize zero', { resize: 0 }, ['field resize', 'got 0']],
    ['crop ≠ image_size', { crop: 224 }, ['field crop', 'image_size 32', 'got 224']],
    ['bad interpolation', { interpolation: 'lanczos' }, ['field interpolation', '"bilinear"', '"lanczos"']],
    ['mean of the wrong length', { mean: [0.5] }, ['field mean', '3 finite number', '[0.5]']],
    ['std not positive', { std: [0.5, 0, 0.5] }, ['field std', 'positive', '[0.5,0,0.5]']],
    ['std with a string', { std: [0.5, '1', 0.5] }, ['field std', '"1"']],
    ['grayscale for an RGB model', { channels: 'grayscale' }, ['field channels', '"grayscale"', 'num_channels 3', '"rgb"']],
    ['rgb for a 1-channel model', { channels: 'rgb' }, ['field channels', 'num_channels 1'], gray],
    ['channels unknown', { channels: 'bgr' }, ['field channels', '"bgr"']],
    // Settings that normalise 8-bit levels beyond ±1e6 (~1e19 here, where a ViT's float32
    // overflows and it answered the same for every image) or to ±Inf (float32 std 0).
    ['std 1e-20', { std: [0.229, 1e-20, 0.225] }, ['std[1] 1e-20 (mean[1] 0.456, rescale 1/255) normalises 8-bit level 0 to -4.56e+19', 'beyond ±1000000', 'fix mean/std/rescale']],
    ['std 1e-30 for every channel', { std: [1e-30, 1e-30, 1e-30] }, ['std[0] 1e-30', 'e+29']],
    ['std 1e-46 (0 in float32)', { std: [0.5, 0.5, 1e-46] }, ['std[2] 1e-46', 'to -Infinity']],
    ['std 1e-7', { std: [1e-7, 0.5, 0.5] }, ['std[0] 1e-7', '-4850000']],
    ['rescale 1e30', { rescale: 1e30 }, ['rescale 1e+30', 'level 1 to 4.37e+30']],
    ['rescale 1e38 with std 1e6', { rescale: 1e38, std: [1e6, 1e6, 1e6], mean: [0, 0, 0] }, ['rescale 1e+38', 'level 1 to 1.00e+32']],
    ['mean 1e7', { mean: [0.5, 1e7, 0.5] }, ['mean[1] 10000000', 'level 0 to -4.46e+7']],
  ];
  for (const [name, value, fragments, config] of bad) {
    it(`rejects ${name}`, async () => {
      const raw = typeof value === 'string' ? value : JSON.stringify(value);
      await expectWebvitError(() => parsePreprocess(raw, config ?? rgb, 'm.safetensors'), 'BAD_CONFIG', ['m.safetensors', ...fragments]);
    });
  }

  it('readWeights returns it, and a bad entry fails the load naming the file', async () => {
    const f = loadFixture('tiny_mean');
    const entry = { resize: 28, crop: 28, interpolation: 'bilinear', mean: [0.286], std: [0.353], channels: 'grayscale' };
    const withPre = withHeader(f.model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify(entry)));
    expect(readWeights(withPre, 'w.safetensors').preprocess).toEqual({ ...entry, isDefault: false });
    expect(readWeights(f.model, 'w.safetensors').preprocess).toMatchObject({ isDefault: true, channels: 'grayscale' });
    const broken = withHeader(f.model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify({ ...entry, mean: [0.1, 0.2, 0.3] })));
    await expectWebvitError(() => readWeights(broken, 'w.safetensors'), 'BAD_CONFIG', ['w.safetensors', 'field mean', '1 finite number']);
    // A std of 1e-20 (pixels to ~1e19: before, the model gave every image the same answer) fails
    // the load, naming the file, the field and the value.
    const tiny = withHeader(f.model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify({ ...entry, std: [1e-20] })));
    await expectWebvitError(() => readWeights(tiny, 'w.safetensors'), 'BAD_CONFIG', ['w.safetensors: __metadata__["webvit.preprocess"]: std[0] 1e-20 (mean[0] 0.286', 'normalises 8-bit level 0 to -2.86e+19']);
    // The largest accepted: level 255 lands within ±1e6.
    expect(readWeights(withHeader(f.model, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify({ ...entry, mean: [0], std: [1e-6] }))), 'w').preprocess?.std).toEqual([1e-6]);
  });
});
