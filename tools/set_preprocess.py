#!/usr/bin/python3
"""Set (or show) the image preprocessing stored in a webvit weight file (`webvit.preprocess`).

    /usr/bin/python3 tools/set_preprocess.py MODEL.safetensors '{"resize": 256, "crop": 224, ...}'
    /usr/bin/python3 tools/set_preprocess.py MODEL.safetensors --fashion-mnist
    /usr/bin/python3 tools/set_preprocess.py MODEL.safetensors            # print it

Only the header's __metadata__ changes; the tensor data is copied byte for byte (its offsets are
relative to the end of the header). Fields (docs/weights-format.md): resize (shorter side,
{"width": W, "height": H} for an exact size, or null), crop (= image_size), interpolation
(bilinear | bicubic | nearest), mean, std (one per channel), channels (rgb | grayscale), and for
Hugging Face processors crop_offset (round | floor) and rescale (a factor). webvit checks them
against the model config at load.
"""
import json
import math
import os
import struct
import sys

# The bundled model (tools/train_fashion_mnist.py): 28x28 grayscale, x/255 then (x - 0.2860)/0.3530.
# An image that is already 28x28 is used as is; anything else has its shorter side resized to 28
# (bilinear, antialiased as PIL) and is centre-cropped. Fashion-MNIST garments are light on a black
# background: photos of clothes on a light background need inverting first.
FASHION_MNIST = {"resize": 28, "crop": 28, "interpolation": "bilinear", "mean": [0.2860], "std": [0.3530], "channels": "grayscale"}


# The loader's bound (MAX_NORMALISED in src/image/preprocess.ts): an 8-bit level normalised beyond
# this is a mistyped std or rescale (normalised pixels lie within about +-10), and ~1e19 overflows
# float32 inside a ViT. Checked here too so that the file is not written; the loader has the last word.
MAX_NORMALISED = 1e6
# Its other bound (MIN_LEVEL_STEP): adjacent 8-bit levels must normalise at least this far apart
# (rescale/std; real processors step by about 1/255/0.2 = 0.02). A std of 1e30 or a rescale of 1e-30
# squeezes all levels onto one value, and every image looks the same to the model.
MIN_LEVEL_STEP = 1e-5


def check_normalisation(value):
    rescale = value.get('rescale', 1 / 255)
    for name in ('mean', 'std'):
        v = value.get(name, [])
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
            raise SystemExit(f'{name} must be a list of finite numbers, one per channel, got {v!r}')
    if not (isinstance(rescale, (int, float)) and math.isfinite(rescale) and rescale > 0):
        raise SystemExit(f'rescale must be a positive finite number, got {rescale!r}')
    for c, (mean, std) in enumerate(zip(value.get('mean', []), value.get('std', []))):
        if not std > 0:
            raise SystemExit(f'std[{c}] must be positive, got {std}')
        largest = max(abs(mean), abs(255 * rescale - mean)) / std
        if largest > MAX_NORMALISED:
            raise SystemExit(f'std[{c}] {std} (mean[{c}] {mean}, rescale {rescale}) normalises 8-bit levels to up to {largest:.3g}, '
                             f'beyond +-{MAX_NORMALISED:g} (pixels normalise to about +-10; float32 overflows inside the model): fix mean/std/rescale')
        if not rescale / std >= MIN_LEVEL_STEP:
            raise SystemExit(f'std[{c}] {std} (rescale {rescale}) leaves adjacent 8-bit levels {rescale / std:.3g} apart, below {MIN_LEVEL_STEP:g} '
                             f'(real processors: about 0.02, i.e. rescale/std = 1/255/0.2): every image would look the same to the model; fix std/rescale')


def main(argv):
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        print(__doc__)
        return 2
    path = argv[1]
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.setdefault('__metadata__', {})
    if len(argv) == 2:
        print(meta.get('webvit.preprocess', '(none: webvit uses its defaults)'))
        return 0
    value = FASHION_MNIST if argv[2] == '--fashion-mnist' else json.loads(argv[2])
    known = {'resize', 'crop', 'interpolation', 'mean', 'std', 'channels', 'crop_offset', 'rescale'}
    if not isinstance(value, dict) or set(value) - known:
        raise SystemExit(f'webvit.preprocess must be an object with fields from {sorted(known)}, got {value!r}')
    cfg = json.loads(meta['webvit.config'])
    if value.get('crop', cfg['image_size']) != cfg['image_size']:
        raise SystemExit(f"crop {value['crop']} must equal the model's image_size {cfg['image_size']}")
    check_normalisation(value)
    meta['webvit.preprocess'] = json.dumps(value)
    new_header = json.dumps(header, separators=(',', ':')).encode()
    new_header += b' ' * (-len(new_header) % 8)  # keep the data 8-byte aligned
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(new_header)) + new_header + data[8 + n:])
    os.replace(tmp, path)
    print(f'{path}: webvit.preprocess = {meta["webvit.preprocess"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
