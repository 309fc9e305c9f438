#!/usr/bin/python3
"""Reference data for webvit's Hugging Face preprocessing (preprocessor_config.json), from PIL + numpy.

Debian 12 has no python3-transformers (`apt-cache policy python3-transformers` knows no such
package), so this script does what transformers' PIL-based image processors do, step by step, as
written in transformers' image_transforms.py and image_processing_{vit,deit,beit,clip,convnext}.py:

  1. the image as RGB uint8 (PIL's convert("RGB"): transformers' convert_to_rgb, or what a
     caller of ViTImageProcessor passes);
  2. resize: PIL.Image.fromarray(uint8).resize((width, height), resample, reducing_gap=None), to
     {height, width}, or to the shortest edge with the longer int(size * long / short)
     (get_resize_output_image_size), or ConvNeXT's int(shortest_edge / crop_pct);
  3. center_crop: top = (h - crop) // 2, left = (w - crop) // 2; zero padding placed at
     ceil((crop - h) / 2) when the image is smaller;
  4. rescale: (x.astype(float64) * rescale_factor).astype(float32);
  5. normalize: (x - float32(mean)) / float32(std) in float32 (a uint8 image is cast to float32 first);
  6. channels first.

Writes test/fixtures/preprocess_hf/:
  images/*.jpg       two photos made here from scikit-image's data (the others are read from
                     test/fixtures/preprocess/images)
  <image>.<config>.u8.gz
                     the 8-bit image after steps 1-3, [3, S, S] (gzip)
  manifest.json      per config: the preprocessor_config.json, the model's image_size, and HF's
                     float32 value of each 8-bit level per channel (steps 4-5 on every level: the
                     full output is lut[c][level], checked here bit for bit against steps 1-6 on
                     the image); per output: its file and the SHA-256 of the full float32 output.

    /usr/bin/python3 tools/make_hf_preprocess_fixtures.py

Needs Debian's python3-pil, python3-numpy and python3-skimage (for the two photos).
"""
import gzip
import hashlib
import json
import math
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'preprocess_hf')
TV_IMAGES = os.path.join(ROOT, 'test', 'fixtures', 'preprocess', 'images')

IMAGENET_STANDARD = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
IMAGENET_DEFAULT = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
OPENAI_CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])

# name -> (image_size of the model, preprocessor_config.json as HF writes it, images)
CONFIGS = {
    # google/vit-base-patch16-224's processor: straight to 224x224, no crop.
    'vit224_bilinear': (224, {
        'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': 224, 'width': 224}, 'resample': 2,
        'do_rescale': True, 'rescale_factor': 0.00392156862745098, 'do_normalize': True,
        'image_mean': IMAGENET_STANDARD[0], 'image_std': IMAGENET_STANDARD[1]},
        ['astronaut_300.jpg', 'coffee_173x115.png', 'chelsea_451x300.jpg']),
    'vit96_bicubic': (96, {
        'image_processor_type': 'ViTImageProcessor', 'size': {'height': 96, 'width': 96}, 'resample': 3,
        'image_mean': IMAGENET_DEFAULT[0], 'image_std': IMAGENET_DEFAULT[1]},
        ['rocket_progressive.jpg', 'chelsea_rgba.png', 'coffee_257x187.jpg']),
    # An old DeiTFeatureExtractor file (ints for sizes): 71x71, crop 64 at floor(7/2) = 3 (torchvision would take 4).
    'deit64_legacy': (64, {
        'feature_extractor_type': 'DeiTFeatureExtractor', 'do_resize': True, 'size': 71, 'resample': 3,
        'do_center_crop': True, 'crop_size': 64, 'do_normalize': True,
        'image_mean': IMAGENET_DEFAULT[0], 'image_std': IMAGENET_DEFAULT[1]},
        ['astronaut_300.jpg', 'chelsea_palette.png']),
    # Resized smaller than the crop: zero padding, top at floor(-7/2) = -4 (torchvision -3).
    'deit64_pad': (64, {
        'image_processor_type': 'DeiTImageProcessor', 'size': {'height': 57, 'width': 69}, 'resample': 2,
        'crop_size': {'height': 64, 'width': 64}},
        ['coffee_173x115.png', 'rocket_progressive.jpg']),
    # Shortest edge, then the crop: 257x187 -> 87x64, left floor(23/2) = 11 (torchvision 12).
    'clip64': (64, {
        'image_processor_type': 'CLIPImageProcessor', 'size': {'shortest_edge': 64}, 'resample': 3,
        'do_center_crop': True, 'crop_size': {'height': 64, 'width': 64}, 'do_convert_rgb': True,
        'image_mean': OPENAI_CLIP[0], 'image_std': OPENAI_CLIP[1]},
        ['coffee_257x187.jpg', 'chelsea_451x300.jpg', 'camera_97x130.png']),
    'convnext64': (64, {
        'image_processor_type': 'ConvNextImageProcessor', 'size': {'shortest_edge': 64}, 'crop_pct': 0.875, 'resample': 2},
        ['chelsea_451x300.jpg', 'camera_97x130.png']),
    # do_rescale and do_normalize off: the 8-bit levels as float32; nearest.
    'vit32_raw_nearest': (32, {
        'image_processor_type': 'ViTImageProcessor', 'size': {'height': 32, 'width': 32}, 'resample': 0,
        'do_rescale': False, 'do_normalize': False},
        ['astronaut_300.jpg']),
    # No rescale, then normalize on 0-255.
    'vit32_norescale': (32, {
        'image_processor_type': 'ViTImageProcessor', 'size': {'height': 32, 'width': 32}, 'resample': 2,
        'do_rescale': False, 'image_mean': [127.5, 127.5, 127.5], 'image_std': [127.5, 127.5, 127.5]},
        ['coffee_257x187.jpg']),
}

# Each class's defaults, as its __init__ sets them (transformers' image_processing_*.py).
CLASSES = {
    'ViTImageProcessor': dict(size={'height': 224, 'width': 224}, square=True, resample=2, crop=None, norm=IMAGENET_STANDARD),
    'DeiTImageProcessor': dict(size={'height': 256, 'width': 256}, square=True, resample=3, crop=True, norm=IMAGENET_STANDARD),
    'BeitImageProcessor': dict(size={'height': 256, 'width': 256}, square=True, resample=3, crop=True, norm=IMAGENET_STANDARD),
    'CLIPImageProcessor': dict(size={'shortest_edge': 224}, square=False, resample=3, crop=True, norm=OPENAI_CLIP),
    'ConvNextImageProcessor': dict(size={'shortest_edge': 384}, square=False, resample=3, crop=None, norm=IMAGENET_STANDARD),
}


def size_dict(v, square):
    """image_processing_utils.get_size_dict."""
    if isinstance(v, dict):
        return v
    if isinstance(v, int):
        return {'height': v, 'width': v} if square else {'shortest_edge': v}
    return {'height': v[0], 'width': v[1]}


def hf_resize(arr, height, width, resample):
    """image_transforms.resize on a uint8 HWC array: to PIL (no rescale for uint8), resize, back."""
    return np.array(Image.fromarray(arr).resize((width, height), resample=resample, reducing_gap=None))


def shortest_edge_size(arr, size):
    """image_transforms.get_resize_output_image_size(default_to_square=False): (height, width)."""
    height, width = arr.shape[:2]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def hf_center_crop(arr, ch, cw):
    """image_transforms.center_crop on HWC."""
    oh, ow = arr.shape[:2]
    top = (oh - ch) // 2
    bottom = top + ch
    left = (ow - cw) // 2
    right = left + cw
    if top >= 0 and bottom <= oh and left >= 0 and right <= ow:
        return arr[top:bottom, left:right]
    nh, nw = max(ch, oh), max(cw, ow)
    new = np.zeros((nh, nw) + arr.shape[2:], dtype=arr.dtype)
    tp = math.ceil((nh - oh) / 2)
    lp = math.ceil((nw - ow) / 2)
    new[tp:tp + oh, lp:lp + ow] = arr
    top, bottom, left, right = top + tp, bottom + tp, left + lp, right + lp
    return new[max(0, top):min(nh, bottom), max(0, left):min(nw, right)]


def hf_rescale(arr, scale):
    """image_transforms.rescale: float64 product, cast to float32."""
    return (arr.astype(np.float64) * scale).astype(np.float32)


def hf_normalize(arr, mean, std):
    """image_transforms.normalize, channels last."""
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return (arr - np.array(mean, dtype=arr.dtype)) / np.array(std, dtype=arr.dtype)


def getter(pc):
    """A field as HF's processor sees it: absent -> the class default; null -> None, which the
    __init__s turn into the default for sizes, crop_pct and mean/std, and which preprocess() treats
    as false for the do_* flags."""
    def get(k, d):
        if k not in pc:
            return d
        if pc[k] is None:
            return False if k.startswith('do_') else d
        return pc[k]
    return get


def processor_class(pc):
    name = pc.get('image_processor_type') or pc.get('feature_extractor_type') or 'ViTImageProcessor'
    return name.replace('FeatureExtractor', 'ImageProcessor')


def geometry(arr, pc):
    """Steps 2-3 on a uint8 HWC array: the processor's resize and centre crop."""
    cls = CLASSES[processor_class(pc)]
    get = getter(pc)
    resample = get('resample', cls['resample'])
    size = size_dict(get('size', cls['size']), cls['square'])
    if processor_class(pc) == 'ConvNextImageProcessor':
        if get('do_resize', True):
            se = size['shortest_edge']
            if se < 384:
                h, w = shortest_edge_size(arr, int(se / get('crop_pct', 224 / 256)))
                arr = hf_center_crop(hf_resize(arr, h, w, resample), se, se)
            else:
                arr = hf_resize(arr, se, se, resample)
        return arr
    if get('do_resize', True):
        h, w = shortest_edge_size(arr, size['shortest_edge']) if 'shortest_edge' in size else (size['height'], size['width'])
        arr = hf_resize(arr, h, w, resample)
    if cls['crop'] is not None and get('do_center_crop', cls['crop']):
        crop = size_dict(get('crop_size', {'height': 224, 'width': 224}), True)
        arr = hf_center_crop(arr, crop['height'], crop['width'])
    return arr


def values(arr, pc):
    """Steps 4-6: float32 CHW."""
    cls = CLASSES[processor_class(pc)]
    get = getter(pc)
    if get('do_rescale', True):
        arr = hf_rescale(arr, get('rescale_factor', 1 / 255))
    if get('do_normalize', True):
        arr = hf_normalize(arr, get('image_mean', cls['norm'][0]), get('image_std', cls['norm'][1]))
    # With neither step HF hands back the uint8 levels; the model's float32 input holds the same numbers.
    arr = arr.astype(np.float32) if arr.dtype == np.uint8 else arr
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def make_images(d):
    """The photos this script adds: scikit-image's chelsea at its own size, and a coffee crop of odd size."""
    import skimage.data
    sk = os.path.dirname(skimage.data.__file__)
    os.makedirs(d, exist_ok=True)
    chelsea = Image.open(os.path.join(sk, 'chelsea.png')).convert('RGB')  # 451x300
    chelsea.save(os.path.join(d, 'chelsea_451x300.jpg'), quality=90)
    coffee = Image.open(os.path.join(sk, 'coffee.png')).convert('RGB')  # 600x400
    coffee.crop((151, 90, 408, 277)).save(os.path.join(d, 'coffee_257x187.jpg'), quality=90)


def main():
    imgdir = os.path.join(OUT, 'images')
    make_images(imgdir)
    path_of = lambda name: os.path.join(imgdir if os.path.exists(os.path.join(imgdir, name)) else TV_IMAGES, name)
    manifest = {
        'generator': f'tools/make_hf_preprocess_fixtures.py (transformers\' PIL image processor steps; PIL {Image.__version__}, numpy {np.__version__})',
        'configs': {},
        'outputs': [],
    }
    total = 0
    for cname, (image_size, pc, names) in CONFIGS.items():
        levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)  # [1, 256, 3]
        lut = values(levels, pc)[:, 0, :]  # [3, 256]
        manifest['configs'][cname] = dict(image_size=image_size, processor=pc, lut=[[float(v) for v in row] for row in lut])
        for name in names:
            rgb = np.asarray(Image.open(path_of(name)).convert('RGB'))
            cropped = geometry(rgb, pc)
            assert cropped.shape == (image_size, image_size, 3), (cname, name, cropped.shape)
            full = values(cropped, pc)
            chw = np.ascontiguousarray(cropped.transpose(2, 0, 1))
            recon = np.stack([lut[c][chw[c]] for c in range(3)])
            assert recon.dtype == np.float32 and np.array_equal(recon.view(np.uint32), full.view(np.uint32)), f'{name} {cname}: lut[level] is not the output bit for bit'
            fname = f'{name}.{cname}.u8.gz'
            data = gzip.compress(chw.tobytes(), 9, mtime=0)
            with open(os.path.join(OUT, fname), 'wb') as f:
                f.write(data)
            total += len(data)
            manifest['outputs'].append(dict(
                image=os.path.relpath(path_of(name), OUT), config=cname, file=fname, shape=list(chw.shape),
                size=list(Image.open(path_of(name)).size), sha256=hashlib.sha256(full.astype('<f4').tobytes()).hexdigest()))
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    size = total + sum(os.path.getsize(os.path.join(imgdir, n)) for n in os.listdir(imgdir))
    print(f'wrote {len(manifest["outputs"])} expected outputs of {len(CONFIGS)} processor configs to {OUT} ({size / 1e6:.2f} MB)')


if __name__ == '__main__':
    sys.exit(main())
