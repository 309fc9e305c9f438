import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { liveBuffers } from '../../src/runtime/buffers.js';
import { createImageClassifier } from '../../src/web/classifier.js';
import { expectWebvitError } from '../helpers/errors.js';
import { withHeader } from '../helpers/weight_file.js';

// The web API loads a model through the same reader as the CLI and the library (issue 17, class 3):
// a webvit.preprocess std of 1e-20 (pixels normalised to ~1e19, where the model's float32
// overflows and it gave every image the same class) is refused when the classifier is made,
// naming the field and the value, with nothing left on the app's device.
const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));
const devices: GPUDevice[] = [];
afterAll(() => {
  for (const d of devices) d.destroy();
});

describe('createImageClassifier and preprocessing that overflows float32', () => {
  it('a std of 1e-20: BAD_CONFIG naming std[0] and its value; no GPU buffer left on the device', async () => {
    const device = await getNodeDevice();
    devices.push(device);
    const pre = { resize: 28, crop: 28, interpolation: 'bilinear', mean: [0.286], std: [1e-20], channels: 'grayscale' };
    const model = withHeader(MODEL, (h) => (h.__metadata__['webvit.preprocess'] = JSON.stringify(pre)));
    await expectWebvitError(() => createImageClassifier({ model: model.slice().buffer, device }), 'BAD_CONFIG', [
      'std[0] 1e-20 (mean[0] 0.286, rescale 1/255) normalises 8-bit level 0 to -2.86e+19',
      'beyond ±1000000',
    ]);
    expect(liveBuffers(device)).toEqual({ buffers: 0, bytes: 0 });
  });
});
