#!/usr/bin/env python3
"""Export seeded random ViT-Ti/16, S/16 and B/16 (224 px) to ONNX for the peer benchmarks.

Usage:
    /usr/bin/python3 tools/export_onnx.py [--out DIR] [--only NAME ...] [--force]

    --out DIR     output root (default: test/fixtures/generated/peers)
    --only NAME   models to build: vit_ti16 vit_s16 vit_b16 (default: all)
    --force       rebuild even when the folder is up to date

Needs Debian's python3 with torch, torchvision and numpy (torch 1.13's exporter writes the ONNX
file itself); if the `onnx` package is importable (Debian: `apt-get install python3-onnx`) the
written file is also run through onnx.checker.

Each model is a folder DIR/<name>/ holding:

model.safetensors, input.bin, golden.json
    Written by tools/make_fixtures.py's own code (make_fixture): every parameter redrawn from
    torch.Generator(seed) exactly as for the test fixtures, the input a batch of 2 seeded
    standard-normal images, golden.json the float64 PyTorch logits (see make_fixtures.py).
model.onnx
    The same weights (rebuilt from model.safetensors, so the two files cannot disagree), as a
    float32 torchvision VisionTransformer exported with torch.onnx.export: opset 17, constants
    folded, input "pixel_values" [batch, 3, 224, 224] and output "logits" [batch, 1000] with a
    dynamic batch axis.
hf/config.json, hf/preprocessor_config.json, hf/onnx/model.onnx
    The folder layout transformers.js loads with `env.localModelPath = DIR` and model id
    "<name>/hf" (model_type "vit"; hf/onnx/model.onnx is a hard link to model.onnx, or a copy).
export.json
    What was exported (config, opset, input/output names, torch version, sizes, seconds), used
    to decide whether the folder is up to date.

Time, from scratch, on the 2-core development VM while other jobs shared it (load average 6-13;
each model prints a "timing" line): ViT-Ti/16 46 s (fixture and golden 25 s, ONNX export 13 s),
ViT-S/16 238 s (49 s + 109 s), ViT-B/16 836 s (379 s + 337 s): 18 min wall, 3 min of CPU time for
S and B together, so on an idle machine expect a few minutes for all three. Folders that are up
to date are skipped (a run with nothing to do costs only importing torch). Disk: about 25 MB (Ti),
90 MB (S), 350 MB (B) per file, model.safetensors and model.onnx each (hf/onnx/model.onnx is a
hard link, no extra space).
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (same parameter draw, writer and golden as the fixtures)

OPSET = 17
BATCH = 2


def vit_config(hidden, heads):
    return dict(image_size=224, patch_size=16, num_channels=3, hidden_size=hidden,
                num_layers=12, num_heads=heads, mlp_size=4 * hidden, num_classes=1000,
                layer_norm_eps=1e-6, qkv_bias=True, pooling="cls")


MODELS = OrderedDict([
    ("vit_ti16", dict(config=vit_config(192, 3), batch=BATCH, seed=4001)),
    ("vit_s16", dict(config=vit_config(384, 6), batch=BATCH, seed=3005)),
    ("vit_b16", dict(config=vit_config(768, 12), batch=BATCH, seed=5001)),
])


class Logits(torch.nn.Module):
    """torchvision ViT with named input/output; nothing else changes."""

    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, pixel_values):
        return self.vit(pixel_values)


def export_record(name, spec):
    return OrderedDict([
        ("name", name), ("config", mf.ordered_config(spec["config"])), ("opset", OPSET),
        ("input", "pixel_values"), ("output", "logits"), ("dynamic_batch", True),
        ("torch", torch.__version__),
    ])


def onnx_up_to_date(folder, name, spec):
    try:
        with open(os.path.join(folder, "export.json")) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return False
    want = json.loads(json.dumps(export_record(name, spec)))
    if any(rec.get(k) != v for k, v in want.items()):
        return False
    onnx_path = os.path.join(folder, "model.onnx")
    st_path = os.path.join(folder, "model.safetensors")
    for p in (onnx_path, os.path.join(folder, "hf", "onnx", "model.onnx"),
              os.path.join(folder, "hf", "config.json"),
              os.path.join(folder, "hf", "preprocessor_config.json")):
        if not os.path.isfile(p):
            return False
    return (os.path.getsize(onnx_path) == rec.get("onnx_bytes")
            and os.path.getmtime(onnx_path) >= os.path.getmtime(st_path))


def hf_files(folder, cfg):
    """transformers.js layout: config.json, preprocessor_config.json, onnx/model.onnx."""
    hf = os.path.join(folder, "hf")
    os.makedirs(os.path.join(hf, "onnx"), exist_ok=True)
    n = cfg["num_classes"]
    config = OrderedDict([
        ("architectures", ["ViTForImageClassification"]), ("model_type", "vit"),
        ("hidden_size", cfg["hidden_size"]), ("num_hidden_layers", cfg["num_layers"]),
        ("num_attention_heads", cfg["num_heads"]), ("intermediate_size", cfg["mlp_size"]),
        ("hidden_act", "gelu"), ("layer_norm_eps", cfg["layer_norm_eps"]),
        ("image_size", cfg["image_size"]), ("patch_size", cfg["patch_size"]),
        ("num_channels", cfg["num_channels"]), ("qkv_bias", cfg["qkv_bias"]),
        ("id2label", OrderedDict((str(i), "class_%d" % i) for i in range(n))),
        ("label2id", OrderedDict(("class_%d" % i, i) for i in range(n))),
    ])
    S = cfg["image_size"]
    pre = OrderedDict([
        ("image_processor_type", "ViTImageProcessor"), ("feature_extractor_type", "ViTFeatureExtractor"),
        ("do_resize", True), ("size", {"height": S, "width": S}), ("resample", 2),
        ("do_rescale", True), ("rescale_factor", 1 / 255), ("do_normalize", True),
        ("image_mean", [0.5, 0.5, 0.5]), ("image_std", [0.5, 0.5, 0.5]),
    ])
    for fname, obj in (("config.json", config), ("preprocessor_config.json", pre)):
        mf.atomic_write(os.path.join(hf, fname), (json.dumps(obj, indent=1) + "\n").encode())
    dst = os.path.join(hf, "onnx", "model.onnx")
    if os.path.exists(dst):
        os.remove(dst)
    try:
        os.link(os.path.join(folder, "model.onnx"), dst)
    except OSError:
        shutil.copyfile(os.path.join(folder, "model.onnx"), dst)


def export_model(name, spec, out_root, force):
    t0 = time.time()
    folder = os.path.join(out_root, name)
    cfg = mf.ordered_config(spec["config"])
    mf.make_fixture(name, spec, out_root, force)  # skips when up to date
    t1 = time.time()
    if not force and onnx_up_to_date(folder, name, spec):
        print("%-9s %s: model.onnx up to date" % (name, folder))
        return
    _, tensors = mf.read_safetensors(os.path.join(folder, "model.safetensors"))
    vit = mf.model_from_file(cfg, tensors).float().eval()
    for p in vit.parameters():  # grad on: keeps nn.MultiheadAttention off its fused fast path,
        p.requires_grad_(True)  # which the ONNX exporter cannot express
    model = Logits(vit).eval()
    B, C, S = spec["batch"], cfg["num_channels"], cfg["image_size"]
    x = torch.from_numpy(np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4").reshape(B, C, S, S).copy())
    tmp = os.path.join(folder, "model.onnx.tmp")
    torch.onnx.export(
        model, (x,), tmp, export_params=True, opset_version=OPSET, do_constant_folding=True,
        input_names=["pixel_values"], output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, os.path.join(folder, "model.onnx"))
    t2 = time.time()

    # Sanity: the float32 torch model agrees with the float64 golden (the ONNX file itself is
    # checked against golden.json by every peer in bench/peers before it is timed).
    with open(os.path.join(folder, "golden.json")) as f:
        golden = np.array(json.load(f)["logits"])
    with torch.no_grad():
        y = model(x).double().numpy()
    rel = float(np.abs(y - golden).max() / np.abs(golden).max())
    ops, checked = None, "onnx package not installed: not checked"
    try:
        import onnx
        m = onnx.load(os.path.join(folder, "model.onnx"))
        onnx.checker.check_model(m)
        ops = sorted(set(n.op_type for n in m.graph.node))
        checked = "onnx.checker OK (onnx %s)" % onnx.__version__
    except ImportError:
        pass
    hf_files(folder, cfg)
    rec = export_record(name, spec)
    rec["onnx_bytes"] = os.path.getsize(os.path.join(folder, "model.onnx"))
    rec["torch_f32_vs_golden_rel"] = rel
    rec["onnx_check"] = checked
    rec["onnx_ops"] = ops
    rec["seconds"] = OrderedDict([("fixture", round(t1 - t0, 2)), ("onnx", round(t2 - t1, 2)),
                                  ("total", round(time.time() - t0, 2))])
    mf.atomic_write(os.path.join(folder, "export.json"), (json.dumps(rec, indent=1) + "\n").encode())
    print("%-9s %s: model.onnx %d B, torch f32 vs golden %.2e rel, %s; ops %s" % (
        name, folder, rec["onnx_bytes"], rel, checked, ops))
    print("%-9s timing: fixture %.1fs, onnx export %.1fs, total %.1fs" % (
        name, t1 - t0, t2 - t1, time.time() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/generated/peers")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(MODELS))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    for name in args.only or list(MODELS):
        export_model(name, MODELS[name], args.out, args.force)
    print("export_onnx: %.1fs" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
