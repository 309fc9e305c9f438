#!/usr/bin/env python3
"""Generate test/fixtures/quick_gelu: a tiny Hugging Face ViT checkpoint whose MLP runs quick_gelu.

Usage:
    /usr/bin/python3 tools/make_quick_gelu_fixture.py [--out DIR]

quick_gelu is x * sigmoid(1.702 * x) (OpenAI CLIP's image towers; Hugging Face's
QuickGELUActivation, `hidden_act: "quick_gelu"`). The model is the seeded random torchvision
ViT of tools/make_layout_fixtures.py (same size: 32 px, patch 8, hidden 64, 2 layers, 10
classes) with every MLP's nn.GELU replaced by that function, written in the Hugging Face
layout (model.safetensors + config.json with hidden_act "quick_gelu"). The golden outputs are
PyTorch's, in float64, with the same definitions as the layout fixtures. The script also
reports how far the logits move if the exact GELU ran instead (the test can tell them apart).

Files in DIR (default test/fixtures/quick_gelu):
    model.safetensors, config.json   the checkpoint `webvit convert` reads
    input.bin                        float32 NCHW, batch 2, seeded standard normal
    golden.json                      as the layout fixtures' (test/convert/layout_fixtures.ts)
"""

import argparse
import json
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import make_layout_fixtures as mlf  # noqa: E402

SEED = 5005


class QuickGELU(nn.Module):
    """Hugging Face's QuickGELUActivation: x * sigmoid(1.702 * x)."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def with_activation(model, act):
    for i in range(mlf.CFG["num_layers"]):
        mlp = mf.layer(model, i).mlp
        assert isinstance(mlp[1], (nn.GELU, QuickGELU)), mlp
        mlp[1] = act()
    return model


def float64_outputs(m32, x32, act):
    cfg = dict(mlf.CFG)
    m = with_activation(mf.build_model(cfg), act)
    m.load_state_dict(m32.state_dict())
    return mf.golden_forward(m.double().eval(), cfg, x32.double())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/quick_gelu")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    cfg = dict(mlf.CFG)
    seed = SEED
    for _ in range(mf.MAX_ATTEMPTS):
        m = mf.draw_params(mf.build_model(cfg), cfg, torch.Generator().manual_seed(seed))
        S, B = cfg["image_size"], mlf.BATCH
        x32 = torch.randn((B, cfg["num_channels"], S, S), generator=torch.Generator().manual_seed(seed + 1))
        feat, logits = float64_outputs(m, x32, QuickGELU)
        gap, mx = mf.top_gap(logits)
        if gap > mf.GAP_REL * mx:
            break
        print("seed %d: top-6 gap %.3g relative, reseeding" % (seed, gap / mx))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("no seed with a clear top-5")
    _, gelu_logits = float64_outputs(m, x32, nn.GELU)
    moved = ((gelu_logits - logits).abs().max() / logits.abs().max()).item()

    sd = OrderedDict((k, v.detach().clone()) for k, v in m.state_dict().items())
    hf_cfg = mlf.hf_config("ViTForImageClassification", True)
    hf_cfg["hidden_act"] = "quick_gelu"
    config = mlf.full_config(hidden_act="quick_gelu")
    golden = mlf.golden_json("quick_gelu", "hf", "quick_gelu", [], config, mlf.LABELS, feat, logits, seed)
    os.makedirs(args.out, exist_ok=True)
    files = [
        ("model.safetensors", mlf.st_bytes(mlf.hf_tensors(sd, "vit.", classifier=True))),
        ("config.json", (json.dumps(hf_cfg, indent=1, ensure_ascii=False) + "\n").encode("utf-8")),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(golden, indent=1, ensure_ascii=False) + "\n").encode("utf-8")),
    ]
    for name, data in files:
        mf.atomic_write(os.path.join(args.out, name), data)
        print("%s/%s: %d bytes" % (args.out, name, len(data)))
    print("seed %d, max|logit| %.4f; the exact GELU instead moves the logits by %.3g of max|logit|"
          % (seed, mx, moved))


if __name__ == "__main__":
    main()
