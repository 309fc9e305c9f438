import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImagePreprocessor } from '../../src/image/preprocessor.js';
import { convertCheckpoint, detectLayout } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { patchFilterComponents, positionSimilarity } from '../../src/model/analysis.js';
import { defaultPreprocess } from '../../src/image/preprocess.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import { topK } from '../../src/model/topk.js';
import { ViTModel } from '../../src/model/vit.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { presetConfig } from '../../src/model/config.js';
import { expectWebvitError } from '../helpers/errors.js';

// A hostile run of the library's Node API (issue 17, round two) found calls that ran without end,
// returned wrong results or threw a bare TypeError. Each is a BAD_ARGUMENT naming the argument.
const TINY = new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tiny', 'model.safetensors')));

describe('topK (CPU)', () => {
  it('n = 0 is refused (it ran until the heap was exhausted: rows = length / 0)', async () => {
    await expectWebvitError(() => topK(new Float32Array([1, 2, 3]), 0, 1), 'BAD_ARGUMENT', ['topK(values, n, k)', 'n 0']);
  });
  it('values that are not whole rows of n, k < 1, non-integers and non-arrays are refused', async () => {
    await expectWebvitError(() => topK(new Float32Array(7), 3, 2), 'BAD_ARGUMENT', ['rows of n']);
    await expectWebvitError(() => topK(new Float32Array(6), 3, -1), 'BAD_ARGUMENT', ['k -1']);
    await expectWebvitError(() => topK(new Float32Array(6), 1.5, 1), 'BAD_ARGUMENT', ['n 1.5']);
    await expectWebvitError(() => topK([1, 2, 3] as unknown as Float32Array, 3, 1), 'BAD_ARGUMENT', ['Float32Array']);
    expect(topK(new Float32Array([1, 3, 2, 5, 4, 0]), 3, 2)).toEqual([
      [{ index: 1, value: 3 }, { index: 2, value: 2 }],
      [{ index: 0, value: 5 }, { index: 1, value: 4 }],
    ]);
  });
});

describe('writeSafetensors', () => {
  const t = (name: string) => ({ name, shape: [2], data: new Float32Array(2) });
  it('two tensors of one name, or one named __metadata__, are refused (the file would be corrupt)', async () => {
    await expectWebvitError(() => writeSafetensors([t('a'), t('a')], {}), 'BAD_ARGUMENT', ['two tensors are named a']);
    await expectWebvitError(() => writeSafetensors([t('__metadata__')], {}), 'BAD_ARGUMENT', ['__metadata__']);
  });
  it('arguments of the wrong kind are BAD_ARGUMENT, not TypeError', async () => {
    await expectWebvitError(() => writeSafetensors(null as never, {}), 'BAD_ARGUMENT', ['tensors must be an array', 'null']);
    await expectWebvitError(() => writeSafetensors([t('a')], null as never), 'BAD_ARGUMENT', ['metadata']);
    await expectWebvitError(() => writeSafetensors([{ name: 'a', shape: [3], data: new Float32Array(2) }], {}), 'BAD_ARGUMENT', ['2 values for shape [3]']);
    await expectWebvitError(() => writeSafetensors([{ name: 'a', shape: [2], data: [1, 2] as never }], {}), 'BAD_ARGUMENT', ['Float32Array']);
    // What it writes reads back.
    const f = parseSafetensors(writeSafetensors([t('a'), t('b')], { k: 'v' }), 'x');
    expect([...f.tensors.keys()]).toEqual(['a', 'b']);
  });
});

describe('devices, bytes and checkpoints of the wrong kind', () => {
  it('ViTModel.load with no device, or not a GPUDevice: BAD_ARGUMENT naming it (was a TypeError)', async () => {
    await expectWebvitError(() => ViTModel.load(null as never, TINY), 'BAD_ARGUMENT', ['device must be a GPUDevice', 'null']);
    await expectWebvitError(() => ViTModel.load({} as never, TINY), 'BAD_ARGUMENT', ['device must be a GPUDevice', 'object']);
  });
  it('ViTModel.load with no bytes says so (was "is 0 bytes"); parseSafetensors names a default source (was "undefined:")', async () => {
    await expectWebvitError(() => ViTModel.load({} as never, null as never), 'BAD_ARGUMENT', ['expected bytes', 'null']);
    const m = await expectWebvitError(() => parseSafetensors('abc' as never), 'BAD_ARGUMENT', ['safetensors: expected bytes', 'string']);
    expect(m).not.toMatch(/undefined/);
  });
  it('new ImagePreprocessor(null) and convertCheckpoint(null): BAD_ARGUMENT', async () => {
    await expectWebvitError(() => new ImagePreprocessor(null as never, defaultPreprocess(presetConfig('vit_tiny_patch16_224'))), 'BAD_ARGUMENT', ['device must be a GPUDevice']);
    await expectWebvitError(() => convertCheckpoint(null as never), 'BAD_ARGUMENT', ['convertCheckpoint', 'readCheckpoint']);
  });
  it("getNodeDevice({ powerPreference: 'ultra' }): BAD_ARGUMENT listing the two values (was Dawn's raw overload error)", async () => {
    await expectWebvitError(() => getNodeDevice({ powerPreference: 'ultra' as never }), 'BAD_ARGUMENT', ["'low-power' or 'high-performance'", 'ultra']);
  });
});

describe('round 4 of the hostile run', () => {
  it('writeSafetensors: a tensor named __proto__ is written (it was dropped: a corrupt file); metadata that is an array is refused', async () => {
    const b = writeSafetensors([{ name: '__proto__', shape: [1], data: new Float32Array([5]) }, { name: 'x', shape: [1], data: new Float32Array([7]) }], {});
    const f = parseSafetensors(b, 'proto');
    expect([...f.tensors.keys()]).toEqual(['__proto__', 'x']);
    await expectWebvitError(() => writeSafetensors([{ name: 'a', shape: [1], data: new Float32Array(1) }], ['a'] as never), 'BAD_ARGUMENT', ['metadata must be an object of strings']);
  });

  it('getNodeDevice: dawnFlags that is not an array of strings (a string was read a character at a time), options that are not an object', async () => {
    await expectWebvitError(() => getNodeDevice({ dawnFlags: 'enable-dawn-features=x' as never }), 'BAD_ARGUMENT', ['dawnFlags must be an array of strings']);
    await expectWebvitError(() => getNodeDevice({ dawnFlags: 5 as never }), 'BAD_ARGUMENT', ['dawnFlags must be an array of strings']);
    await expectWebvitError(() => getNodeDevice('x' as never), 'BAD_ARGUMENT', ['options must be an object']);
  });

  it('convertCheckpoint options, detectLayout, readCheckpoint, positionSimilarity and patchFilterComponents: BAD_ARGUMENT naming the argument (were TypeErrors or misleading)', async () => {
    const ck = await readCheckpoint(join(import.meta.dirname, '..', 'fixtures', 'layouts', 'hf'));
    await expectWebvitError(() => convertCheckpoint(ck, null as never), 'BAD_ARGUMENT', ['options must be an object']);
    await expectWebvitError(() => convertCheckpoint(ck, { layout: 'x' as never }), 'BAD_ARGUMENT', ['layout must be hf, timm, torchvision, clip, dinov2, siglip, beit, webvit']);
    await expectWebvitError(() => convertCheckpoint(ck, { labels: [1, 2] as never }), 'BAD_ARGUMENT', ['labels must be an array of strings']);
    await expectWebvitError(() => convertCheckpoint(ck, { labels: 5 as never }), 'BAD_ARGUMENT', ['labels must be an array of strings']);
    await expectWebvitError(() => convertCheckpoint(ck, { imageSize: '32' as never }), 'BAD_ARGUMENT', ['imageSize must be a positive whole number, got "32"']);
    await expectWebvitError(() => detectLayout(null as never), 'BAD_ARGUMENT', ['detectLayout']);
    await expectWebvitError(() => detectLayout({} as never), 'BAD_ARGUMENT', ['detectLayout']);
    await expectWebvitError(() => readCheckpoint(null as never), 'BAD_ARGUMENT', ['readCheckpoint: expected a path']);
    await expectWebvitError(() => positionSimilarity(null as never), 'BAD_ARGUMENT', ['positionSimilarity']);
    await expectWebvitError(() => patchFilterComponents({} as never), 'BAD_ARGUMENT', ['patchFilterComponents']);
  });
});

describe('round 5 of the hostile run', () => {
  it('functions of a config given something else: BAD_ARGUMENT (were TypeErrors, or NaN sizes)', async () => {
    const { shapeOf, presetConfig } = await import('../../src/model/config.js');
    const { flopsPerImage } = await import('../../src/model/stats.js');
    const { estimateActivationBytes } = await import('../../src/model/vit.js');
    const { explainLimits } = await import('../../src/model/explain_budget.js');
    const { expectedTensors } = await import('../../src/model/weights.js');
    const { preprocessGeometry } = await import('../../src/image/preprocess.js');
    for (const f of [() => shapeOf('x' as never), () => flopsPerImage('x' as never), () => estimateActivationBytes(null as never, 1), () => explainLimits(null as never, 1), () => expectedTensors(null as never)]) {
      await expectWebvitError(f, 'BAD_ARGUMENT', ['expected a ViTConfig']);
    }
    const cfg = presetConfig('vit_tiny_patch16_224');
    await expectWebvitError(() => estimateActivationBytes(cfg, 1e300), 'BAD_INPUT', ['beyond any device']);
    await expectWebvitError(() => preprocessGeometry(defaultPreprocess(cfg), NaN, 0), 'BAD_ARGUMENT', ['whole pixels']);
    await expectWebvitError(() => preprocessGeometry(null as never, 1, 1), 'BAD_ARGUMENT', ['expected a PreprocessConfig']);
    await expectWebvitError(() => presetConfig('nope' as never), 'BAD_ARGUMENT', ['unknown preset nope', 'vit_tiny_patch16_224']);
    await expectWebvitError(() => presetConfig('__proto__' as never), 'BAD_ARGUMENT', ['unknown preset __proto__']);
  });

  it('a config value of 1e400 (Infinity once parsed) is shown as Infinity, not "null"', async () => {
    const { parseConfig, VIT_PRESETS } = await import('../../src/model/config.js');
    const raw = JSON.parse(JSON.stringify(VIT_PRESETS.vit_tiny_patch16_224).replace(/}$/, ',"layer_norm_eps":1e400}'));
    await expectWebvitError(() => parseConfig(raw, 'cfg'), 'BAD_CONFIG', ['layer_norm_eps', 'got Infinity']);
  });
});

// Round six (session 8): exported helpers that still threw a bare TypeError on null.
describe('device and config helpers given null or the wrong kind', () => {
  it('featuresOf, isCpuAdapter, adapterDefaults, tuneKernels: BAD_ARGUMENT naming the function and the device', async () => {
    const { featuresOf } = await import('../../src/runtime/device.js');
    const { adapterDefaults, isCpuAdapter } = await import('../../src/kernels/registry.js');
    const { tuneKernels } = await import('../../src/runtime/tuning.js');
    for (const bad of [null, undefined, {}, 3, new Proxy({}, { get() { throw new Error('trap'); } })]) {
      await expectWebvitError(() => featuresOf(bad as never), 'BAD_ARGUMENT', ['featuresOf: device must be a GPUDevice']);
      await expectWebvitError(() => isCpuAdapter(bad as never), 'BAD_ARGUMENT', ['isCpuAdapter: device must be a GPUDevice']);
      await expectWebvitError(() => adapterDefaults(bad as never), 'BAD_ARGUMENT', ['adapterDefaults: device must be a GPUDevice']);
      await expectWebvitError(() => tuneKernels(bad as never, [], undefined), 'BAD_ARGUMENT', ['tuneKernels: device must be a GPUDevice']);
    }
  });
  it('tuneKernels with nodes, a store, forced choices or options of the wrong kind: BAD_ARGUMENT naming which', async () => {
    const { tuneKernels } = await import('../../src/runtime/tuning.js');
    const device = await getNodeDevice();
    await expectWebvitError(() => tuneKernels(device, null as never, undefined), 'BAD_ARGUMENT', ['nodes must be an array']);
    await expectWebvitError(() => tuneKernels(device, [null] as never, undefined), 'BAD_ARGUMENT', ['nodes must be an array']);
    await expectWebvitError(() => tuneKernels(device, [], null as never), 'BAD_ARGUMENT', ['store must be a TuneStore']);
    await expectWebvitError(() => tuneKernels(device, [], undefined, null as never), 'BAD_ARGUMENT', ['forced must be an object']);
    await expectWebvitError(() => tuneKernels(device, [], undefined, {}, null as never), 'BAD_ARGUMENT', ['options must be an object']);
    // The right kinds still tune (nothing to tune: an empty result).
    expect((await tuneKernels(device, [], undefined)).kernels).toBeDefined();
  });
  it('parsePreprocess and defaultPreprocess with a null config or non-string JSON: BAD_ARGUMENT (was a TypeError)', async () => {
    const { parsePreprocess } = await import('../../src/image/preprocess.js');
    await expectWebvitError(() => parsePreprocess(undefined, null as never), 'BAD_ARGUMENT', ['parsePreprocess: config must be']);
    await expectWebvitError(() => defaultPreprocess(null as never), 'BAD_ARGUMENT', ['defaultPreprocess: config must be']);
    const config = { image_size: 28, num_channels: 1 } as never;
    await expectWebvitError(() => parsePreprocess(42 as never, config), 'BAD_ARGUMENT', ['raw must be', 'number']);
    await expectWebvitError(() => parsePreprocess(null as never, config), 'BAD_ARGUMENT', ['raw must be', 'null']);
    expect(parsePreprocess(undefined, config).crop).toBe(28);
  });
});

// Round six's Node-library cases: a segfault from an image without pixels, bare TypeErrors and
// values of the wrong kind taken silently.
describe('round six: the preprocessor, forward and load options, tune stores, source names', () => {
  it('ImagePreprocessor: an image without rgba (it sized the resize for 1e6 × 1e6 and crashed the process), null config or images: BAD_INPUT / BAD_ARGUMENT', async () => {
    const device = await getNodeDevice();
    await expectWebvitError(() => new ImagePreprocessor(device, null as never), 'BAD_ARGUMENT', ['config must be a PreprocessConfig', 'null']);
    // Round seven: crop 0, NaN, -4 or 1e9, an unknown interpolation or channels failed inside Dawn or ran as RGB.
    const good = defaultPreprocess({ image_size: 28, num_channels: 1 } as never);
    for (const bad of [{ crop: 0 }, { crop: NaN }, { crop: -4 }, { crop: 1e9 }, { interpolation: 'lanczos' }, { channels: 'cmyk' }]) {
      await expectWebvitError(() => new ImagePreprocessor(device, { ...good, ...bad } as never), 'BAD_ARGUMENT', ['config must be a PreprocessConfig']);
    }
    const pre = new ImagePreprocessor(device, defaultPreprocess({ image_size: 28, num_channels: 1 } as never));
    try {
      await expectWebvitError(() => pre.run([{ width: 1e6, height: 1e6 }] as never), 'BAD_INPUT', ['it has no rgba']);
      await expectWebvitError(() => pre.run([{ width: 2, height: 2, data: new Uint8Array(16) }] as never), 'BAD_INPUT', ['it has no rgba', 'ImageData names its pixels `data`']);
      await expectWebvitError(() => pre.run([{ width: 2, height: 2, rgba: [1, 2] }] as never), 'BAD_INPUT', ['rgba is not a Uint8Array']);
      await expectWebvitError(() => pre.run([{ width: -1, height: 2, rgba: new Uint8Array(0) }] as never), 'BAD_INPUT', ['whole numbers of pixels']);
      await expectWebvitError(() => pre.run(null as never), 'BAD_ARGUMENT', ['takes an array of images']);
      await expectWebvitError(() => pre.run([null] as never), 'BAD_INPUT', ['expected an RgbaImage', 'null']);
      // A right one still runs.
      expect((await pre.run([{ width: 2, height: 2, rgba: new Uint8Array(16).fill(128) }])).length).toBe(28 * 28);
    } finally {
      await pre.dispose();
    }
  });
  it('forward/profile and load options of the wrong kind are BAD_ARGUMENT naming the option; topK "3" says it got a string', async () => {
    const device = await getNodeDevice();
    await expectWebvitError(() => ViTModel.load(device, TINY, null as never), 'BAD_ARGUMENT', ['ViTModel.load: options must be an object', 'null']);
    await expectWebvitError(() => ViTModel.load(device, TINY, { tune: 'yes' as never }), 'BAD_ARGUMENT', ['options.tune must be true, false or a TuneStore', 'the string "yes"']);
    await expectWebvitError(() => ViTModel.load(device, TINY, { kernels: 'matmul=foo' as never }), 'BAD_ARGUMENT', ['options.kernels must be an object']);
    // Round seven: a 1 MB label made 1 MB messages; onProgress 42 failed at the first forward, naming onCompile.
    await expectWebvitError(() => ViTModel.load(device, TINY, { label: 'L'.repeat(1e6) }), 'BAD_ARGUMENT', ['options.label must be a string of at most 200 characters']);
    await expectWebvitError(() => ViTModel.load(device, TINY, { onProgress: 42 as never }), 'BAD_ARGUMENT', ['options.onProgress must be a function']);
    const m = await ViTModel.load(device, TINY, { label: 'args' });
    try {
      const x = new Float32Array(m.config.image_size * m.config.image_size * m.config.num_channels);
      await expectWebvitError(() => m.forward(x, null as never), 'BAD_ARGUMENT', ['forward: options must be an object', 'null']);
      await expectWebvitError(() => m.forward(x, 5 as never), 'BAD_ARGUMENT', ['options must be an object', '5']);
      await expectWebvitError(() => m.forward(x, { features: 'yes' as never }), 'BAD_ARGUMENT', ['options.features must be true or false']);
      await expectWebvitError(() => m.forward(x, { topK: '3' as never }), 'BAD_INPUT', ['topK must be a whole number', 'got the string "3"']);
      await expectWebvitError(() => m.profile(x, null as never), 'BAD_ARGUMENT', ['profile: options must be an object']);
      expect((await m.forward(x, { topK: 3 })).top![0].length).toBe(3);
    } finally {
      await m.dispose();
    }
  });
  // Round eight: an option the call does not read (a typo, another call's option) was ignored:
  // forward(x, { topk: 3 }) returned logits, load({ lable }) used "vit", explain({ layers: 1 }) the rollout.
  it('an unknown option of load/fromWeights/forward/profile/explain, getNodeDevice, decodeImage, convertCheckpoint, readCheckpoint, fileTuneStore: BAD_ARGUMENT naming it and the ones taken', async () => {
    const device = await getNodeDevice();
    await expectWebvitError(() => ViTModel.load(device, TINY, { lable: 'x' } as never), 'BAD_ARGUMENT', ['ViTModel.load: unknown option lable; it takes label, batch, topK']);
    const m = await ViTModel.load(device, TINY, { label: 'keys', source: 'tiny.safetensors' });
    try {
      const x = new Float32Array(m.config.image_size * m.config.image_size * m.config.num_channels);
      await expectWebvitError(() => m.forward(x, { topk: 3 } as never), 'BAD_ARGUMENT', ['keys: forward: unknown option topk; it takes batch, topK, features']);
      await expectWebvitError(() => m.profile(x, { feature: true } as never), 'BAD_ARGUMENT', ['keys: profile: unknown option feature']);
      await expectWebvitError(() => m.explain(x, { layers: 1 } as never), 'BAD_ARGUMENT', ['keys: explain: unknown option layers; it takes batch, layer']);
      await expectWebvitError(() => m.explain(x, null as never), 'BAD_ARGUMENT', ['keys: explain: options must be an object, got null; it takes batch, layer']);
      // Many unknown keys: named in a bounded message.
      const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
      const msg = await expectWebvitError(() => m.forward(x, many as never), 'BAD_ARGUMENT', ['unknown option k0, k1']);
      expect(msg.length).toBeLessThan(500);
      expect((await m.forward(x, { topK: 3, batch: 1, features: true })).top![0].length).toBe(3);
    } finally {
      await m.dispose();
    }
    await expectWebvitError(() => getNodeDevice({ dawnflags: [] } as never), 'BAD_ARGUMENT', ['getNodeDevice: unknown option dawnflags; it takes dawnFlags, powerPreference, disableFeatures']);
    const { decodeImage } = await import('../../src/image/decode.js');
    const png = new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'bag.png')));
    await expectWebvitError(() => decodeImage(png, 'bag.png', { maxpixels: 1 } as never), 'BAD_ARGUMENT', ['decodeImage: unknown option maxpixels; it takes maxPixels, pool']);
    const ck = await readCheckpoint(join(import.meta.dirname, '..', 'fixtures', 'layouts', 'hf'));
    await expectWebvitError(() => convertCheckpoint(ck, { imagesize: 64 } as never), 'BAD_ARGUMENT', ['convertCheckpoint: unknown option imagesize']);
    await expectWebvitError(() => readCheckpoint(join(import.meta.dirname, '..', 'fixtures', 'layouts', 'hf'), { preprocessor: 'x' } as never), 'BAD_ARGUMENT', ['readCheckpoint: unknown option preprocessor; it takes preprocessorConfig']);
    const { fileTuneStore } = await import('../../src/runtime/node-tune-store.js');
    await expectWebvitError(() => fileTuneStore('/tmp/x.json', { warning: () => 1 } as never), 'BAD_ARGUMENT', ['fileTuneStore: unknown option warning; it takes warn']);
  });
  it('setDefaultTuneStore(1), fileTuneStore(1) and fileTuneStore(path, null): BAD_ARGUMENT at the call (they failed later, naming something else)', async () => {
    const { setDefaultTuneStore } = await import('../../src/model/vit.js');
    const { fileTuneStore } = await import('../../src/runtime/node-tune-store.js');
    await expectWebvitError(() => setDefaultTuneStore(1 as never), 'BAD_ARGUMENT', ['setDefaultTuneStore: store must be a TuneStore']);
    await expectWebvitError(() => fileTuneStore(1 as never), 'BAD_ARGUMENT', ['fileTuneStore: path must be a file path']);
    await expectWebvitError(() => fileTuneStore('/tmp/x.json', null as never), 'BAD_ARGUMENT', ['fileTuneStore: options must be an object']);
  });
  it('a Symbol as the source name: BAD_ARGUMENT (every message threw "Cannot convert a Symbol value to a string")', async () => {
    const { parseConfig } = await import('../../src/model/config.js');
    const { readWeights } = await import('../../src/model/weights.js');
    const { preprocessGeometry } = await import('../../src/image/preprocess.js');
    await expectWebvitError(() => parseConfig({}, Symbol('s') as never), 'BAD_ARGUMENT', ['parseConfig: source must be a string']);
    await expectWebvitError(() => parseSafetensors(TINY, Symbol('s') as never), 'BAD_ARGUMENT', ['parseSafetensors: source must be a string']);
    await expectWebvitError(() => readWeights(TINY, Symbol('s') as never), 'BAD_ARGUMENT', ['readWeights: source must be a string']);
    await expectWebvitError(() => preprocessGeometry(defaultPreprocess({ image_size: 28, num_channels: 1 } as never), Symbol('w') as never, 3), 'BAD_ARGUMENT', ['Symbol(w)×3']);
  });
});
