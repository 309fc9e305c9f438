#!/usr/bin/python3
"""Reference data for webvit's image decoding and preprocessing, from PIL + torchvision.

Writes test/fixtures/preprocess/:
  images/*.png|jpg   small source images (photos from scikit-image's data, resized offline to at
                     most 300 px, in every PNG/JPEG flavour webvit must read)
  <image>.<config>.u8.gz
                     torchvision's `Compose([Resize(resize, interpolation), CenterCrop(crop)])`
                     output as 8-bit levels, [C, crop, crop] (gzip)
  manifest.json      the configs, torchvision's float32 value of each 8-bit level per channel
                     (ToTensor + Normalize: the full output is lut[c][level], checked here bit for
                     bit against `Compose([..., ToTensor(), Normalize(mean, std)])`), and for each
                     image the SHA-256 of PIL's convert('RGB') and convert('L') pixels.

and, with --examples, examples/*.png: Fashion-MNIST test images (Debian's dataset-fashion-mnist),
named by their true class (see write_examples for which ones).

    /usr/bin/python3 tools/make_preprocess_fixtures.py [--examples]

Needs Debian's python3-torchvision, python3-pil and python3-skimage (for the photos).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'preprocess')
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

CONFIGS = {
    'rgb224_bilinear': dict(resize=256, crop=224, interpolation='bilinear', mean=IMAGENET[0], std=IMAGENET[1], channels='rgb'),
    'rgb160_bicubic': dict(resize=182, crop=160, interpolation='bicubic', mean=IMAGENET[0], std=IMAGENET[1], channels='rgb'),
    'rgb64_nearest': dict(resize=72, crop=64, interpolation='nearest', mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], channels='rgb'),
    'rgb128_noresize': dict(resize=None, crop=128, interpolation='bilinear', mean=IMAGENET[0], std=IMAGENET[1], channels='rgb'),
    'gray28': dict(resize=32, crop=28, interpolation='bilinear', mean=[0.2860], std=[0.3530], channels='grayscale'),
}
MODES = {'bilinear': T.InterpolationMode.BILINEAR, 'bicubic': T.InterpolationMode.BICUBIC, 'nearest': T.InterpolationMode.NEAREST}


def skimage_data():
    import skimage.data
    return os.path.dirname(skimage.data.__file__)


def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, rows, width, height, depth, color_type, extra=b''):
    """A PNG from raw scanline bytes (filter 0), for the flavours PIL cannot write (16-bit RGB, 2-bit grey)."""
    raw = b''.join(b'\x00' + r for r in rows)
    ihdr = struct.pack('>IIBBBBB', width, height, depth, color_type, 0, 0, 0)
    data = b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + extra + png_chunk(b'IDAT', zlib.compress(raw, 9)) + png_chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(data)


def make_images(d):
    """Source images: name -> (path, configs, note). Deterministic."""
    sk = skimage_data()
    rng = np.random.default_rng(20240601)
    os.makedirs(d, exist_ok=True)
    out = {}

    def add(name, configs, note=''):
        out[name] = dict(configs=configs, note=note)

    astro = Image.open(os.path.join(sk, 'astronaut.png')).convert('RGB')
    astro.resize((300, 300), Image.LANCZOS).save(os.path.join(d, 'astronaut_300.jpg'), quality=90)  # 4:2:0
    add('astronaut_300.jpg', ['rgb224_bilinear', 'rgb160_bicubic', 'gray28', 'rgb64_nearest'], 'JPEG 4:2:0, downscaled (300 -> 256)')

    coffee = Image.open(os.path.join(sk, 'coffee.png')).convert('RGB')
    coffee_small = coffee.resize((173, 115), Image.LANCZOS)
    coffee_small.save(os.path.join(d, 'coffee_173x115.png'))
    add('coffee_173x115.png', ['rgb224_bilinear', 'rgb160_bicubic', 'gray28', 'rgb128_noresize'], 'RGB PNG, upscaled (115 -> 256), odd size')

    camera = Image.open(os.path.join(sk, 'camera.png')).convert('L')
    camera.resize((97, 130), Image.LANCZOS).save(os.path.join(d, 'camera_97x130.png'))
    add('camera_97x130.png', ['rgb160_bicubic', 'gray28', 'rgb128_noresize'], '8-bit greyscale PNG, portrait')

    camera.resize((200, 150), Image.LANCZOS).save(os.path.join(d, 'camera_gray.jpg'), quality=85)
    add('camera_gray.jpg', ['rgb160_bicubic', 'gray28'], 'greyscale (1-component) JPEG')

    rocket = Image.open(os.path.join(sk, 'rocket.jpg')).convert('RGB')
    rocket.resize((200, 133), Image.LANCZOS).save(os.path.join(d, 'rocket_progressive.jpg'), quality=88, progressive=True)
    add('rocket_progressive.jpg', ['rgb224_bilinear', 'gray28'], 'progressive JPEG')

    chelsea = Image.open(os.path.join(sk, 'chelsea.png')).convert('RGB')
    pal = chelsea.resize((150, 100), Image.LANCZOS).quantize(colors=64)
    trns = bytes([255 if i % 5 else 0 for i in range(64)])  # some palette entries fully transparent
    pal.save(os.path.join(d, 'chelsea_palette.png'), transparency=trns)
    add('chelsea_palette.png', ['rgb160_bicubic', 'gray28'], 'palette PNG with tRNS (per-entry alpha)')

    rgba = chelsea.resize((120, 90), Image.LANCZOS).convert('RGBA')
    a = np.asarray(rgba).copy()
    a[..., 3] = np.linspace(0, 255, 120, dtype=np.uint8)[None, :]
    Image.fromarray(a, 'RGBA').save(os.path.join(d, 'chelsea_rgba.png'))
    add('chelsea_rgba.png', ['rgb160_bicubic', 'gray28', 'rgb64_nearest'], 'RGBA PNG (alpha dropped, as convert("RGB"))')

    c16 = np.asarray(coffee.resize((96, 64), Image.LANCZOS)).astype(np.uint16) * 257
    c16 = c16 ^ rng.integers(0, 256, c16.shape, dtype=np.uint16)  # random low bytes
    write_png(os.path.join(d, 'coffee_rgb16.png'), [r.astype('>u2').tobytes() for r in c16], 96, 64, 16, 2)
    add('coffee_rgb16.png', ['rgb160_bicubic', 'gray28'], '16-bit RGB PNG (PIL keeps the high byte)')

    g16 = np.asarray(camera.resize((64, 80), Image.LANCZOS)).astype(np.uint16) * 257
    g16 = g16 ^ rng.integers(0, 256, g16.shape, dtype=np.uint16)
    write_png(os.path.join(d, 'camera_gray16.png'), [r.astype('>u2').tobytes() for r in g16], 64, 80, 16, 0)
    add('camera_gray16.png', ['rgb64_nearest', 'gray28'],
        '16-bit greyscale PNG. PIL opens it as mode I and convert() clips at 255 (a white image); '
        'webvit keeps the high byte as PIL does for 16-bit RGB, so the expected output here is '
        'torchvision on the high-byte 8-bit image')

    gt = np.asarray(camera.resize((40, 30), Image.LANCZOS)).copy()
    key = int(gt[10, 10])
    Image.fromarray(gt, 'L').save(os.path.join(d, 'gray_trns.png'), transparency=key)
    add('gray_trns.png', ['rgb64_nearest', 'gray28'], f'greyscale PNG with a tRNS colour key ({key}): colours are kept')

    g2 = (np.asarray(camera.resize((33, 20), Image.LANCZOS)) >> 6).astype(np.uint8)  # 2-bit
    rows = []
    for r in g2:
        bits = np.zeros(((33 + 3) // 4) * 4, dtype=np.uint8)
        bits[:33] = r
        q = bits.reshape(-1, 4)
        rows.append(bytes((q[:, 0] << 6 | q[:, 1] << 4 | q[:, 2] << 2 | q[:, 3]).astype(np.uint8)))
    write_png(os.path.join(d, 'gray2bit.png'), rows, 33, 20, 2, 0)
    add('gray2bit.png', ['gray28', 'rgb64_nearest'], '2-bit greyscale PNG (PIL scales by 85)')
    return out


def pil_rgb(path, name):
    im = Image.open(path)
    if name == 'camera_gray16.png':  # see the note: the high byte, as webvit does
        a = np.asarray(im).astype(np.uint32) >> 8
        return Image.fromarray(a.astype(np.uint8), 'L').convert('RGB')
    return im.convert('RGB')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--examples', action='store_true', help='also write examples/*.png from Fashion-MNIST')
    args = ap.parse_args()
    torch.manual_seed(0)
    imgdir = os.path.join(OUT, 'images')
    images = make_images(imgdir)
    manifest = {
        'generator': f'tools/make_preprocess_fixtures.py (torch {torch.__version__}, torchvision {torchvision.__version__}, PIL {Image.__version__})',
        'configs': {},
        'images': {},
    }
    for cname, c in CONFIGS.items():
        n = len(c['mean'])
        levels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 256).expand(n, 1, 256).contiguous()
        lut = T.Normalize(c['mean'], c['std'])(levels.to(torch.float32).div(255))[:, 0, :]
        manifest['configs'][cname] = dict(c, lut=[[float(v) for v in row] for row in lut.numpy()])
    total = 0
    for name, info in images.items():
        path = os.path.join(imgdir, name)
        raw = Image.open(path)
        rgb = pil_rgb(path, name)
        gray = rgb.convert('L') if name == 'camera_gray16.png' else raw.convert('L')
        assert np.array_equal(np.asarray(gray), np.asarray(rgb.convert('L'))), name  # L from the file == L from its RGB
        entry = dict(info, mode=raw.mode, size=list(raw.size),
                     rgb_sha256=hashlib.sha256(np.ascontiguousarray(np.asarray(rgb)).tobytes()).hexdigest(),
                     l_sha256=hashlib.sha256(np.ascontiguousarray(np.asarray(gray)).tobytes()).hexdigest(), outputs={})
        for cname in info['configs']:
            c = CONFIGS[cname]
            img = rgb if c['channels'] == 'rgb' else gray
            geo = ([T.Resize(c['resize'], MODES[c['interpolation']])] if c['resize'] else []) + [T.CenterCrop(c['crop'])]
            cropped = T.Compose(geo)(img)
            levels = np.asarray(cropped)
            levels = levels[None] if levels.ndim == 2 else levels.transpose(2, 0, 1)
            full = T.Compose(geo + [T.ToTensor(), T.Normalize(c['mean'], c['std'])])(img)
            lut = torch.tensor(manifest['configs'][cname]['lut'], dtype=torch.float32)
            recon = torch.stack([lut[ch][torch.from_numpy(levels[ch].astype(np.int64))] for ch in range(levels.shape[0])])
            assert torch.equal(recon, full), f'{name} {cname}: lut[level] is not torchvision\'s output bit for bit'
            fname = f'{name}.{cname}.u8.gz'
            data = gzip.compress(np.ascontiguousarray(levels).tobytes(), 9, mtime=0)
            with open(os.path.join(OUT, fname), 'wb') as f:
                f.write(data)
            total += len(data)
            entry['outputs'][cname] = dict(file=fname, shape=list(levels.shape))
        manifest['images'][name] = entry
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    size = total + sum(os.path.getsize(os.path.join(imgdir, n)) for n in images)
    print(f'wrote {len(images)} images, {sum(len(i["configs"]) for i in images.values())} expected outputs to {OUT} ({size / 1e6:.2f} MB)')
    if args.examples:
        write_examples()


FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
EXAMPLE_CLASSES = [9, 1, 2, 7, 8, 3]  # ankle boot, trouser, pullover, sneaker, bag, dress


def write_examples():
    """examples/<class>.png: for each of EXAMPLE_CLASSES, the first Fashion-MNIST test image of that
    class that the bundled model's PyTorch top-1 gets right (models/fashion-mnist/
    pytorch_test_predictions.bin, written by tools/train_fashion_mnist.py), so that the examples
    show what the model does when it works; without that file, the first image of the class.
    The model's accuracy over the whole test set is in models/fashion-mnist/training.json."""
    d = '/usr/share/datasets/fashion-mnist'
    with gzip.open(os.path.join(d, 't10k-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(d, 't10k-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    pred_path = os.path.join(ROOT, 'models', 'fashion-mnist', 'pytorch_test_predictions.bin')
    pred = np.fromfile(pred_path, '<i4', count=len(labels)) if os.path.exists(pred_path) else None
    out = os.path.join(ROOT, 'examples')
    os.makedirs(out, exist_ok=True)
    for cls in EXAMPLE_CLASSES:
        ok = labels == cls if pred is None else (labels == cls) & (pred == cls)
        i = int(np.nonzero(ok)[0][0])
        name = FASHION[cls].lower().replace(' ', '-').replace('/', '-')
        Image.fromarray(images[i], 'L').save(os.path.join(out, f'{name}.png'), optimize=True)
        how = 'first of its class' if pred is None else 'first of its class that PyTorch classifies right'
        print(f'examples/{name}.png: Fashion-MNIST test image {i}, class {cls} ({FASHION[cls]}), {how}')


if __name__ == '__main__':
    sys.exit(main())
