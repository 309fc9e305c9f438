#!/usr/bin/env python3
"""Write seeded Hugging Face CLIP image-tower checkpoints (the exact key layout and config.json of
real CLIP checkpoints) with float64 and float32 golden outputs computed in PyTorch.

Usage:
    /usr/bin/python3 tools/make_family_fixtures.py [--out DIR]

    --out DIR   output root (default: test/fixtures/families)

Needs only Debian's python3 with torch and numpy (no transformers, no safetensors package). The
model below is this script's own minimal PyTorch version of transformers' CLIP vision tower
(models/clip/modeling_clip.py: CLIPVisionEmbeddings, CLIPAttention, CLIPMLP, CLIPEncoderLayer,
CLIPVisionTransformer, and the visual_projection of CLIPModel / CLIPVisionModelWithProjection),
with module names chosen so that its state_dict keys are exactly HF's. Files are written with
make_fixtures.py's safetensors writer (int64 tensors, which it does not write, by the same layout
here). Output is deterministic (same bytes every run on the same torch build).

The forward pass, as HF runs it (eval mode, no dropout, no interpolate_pos_encoding):
    patches  = Conv2d(C, D, kernel P, stride P, bias=False)(x).flatten(2).transpose(1, 2)
    h        = cat([class_embedding, patches], 1) + position_embedding.weight[position_ids]
    h        = pre_layrnorm(h)
    per layer:  h = h + out_proj(attn(layer_norm1(h)));  h = h + fc2(quick_gelu(fc1(layer_norm2(h))))
                attn: q/k/v_proj (with bias), heads of D/H, softmax(q k^T * (D/H)^-0.5) v
                quick_gelu(x) = x * sigmoid(1.702 x)
    last_hidden_state = h                      (no final norm over all tokens)
    pooled   = post_layernorm(h[:, 0])         (pooler_output)
    embeds   = visual_projection(pooled)       (Linear, no bias; NOT L2-normalised: what
                                                CLIPModel.get_image_features returns and
                                                CLIPVisionModelWithProjection's image_embeds)
Every LayerNorm uses config.layer_norm_eps (CLIPVisionConfig default 1e-5).

Fixtures (folders under DIR):

  clip_full/         CLIPModel: image 32, patch 8, hidden 64, 2 layers, 4 heads, intermediate 128,
                     projection_dim 48 (top level), 3 channels. config.json as save_pretrained
                     writes a CLIPConfig (only non-default values in the sub-configs): its
                     vision_config OMITS hidden_act, layer_norm_eps, num_channels and
                     projection_dim, so a converter must know CLIPVisionConfig's defaults
                     (quick_gelu, 1e-5, 3) and take the projection size from the top-level
                     projection_dim (vision_config's own default, 512, is not what CLIPModel
                     uses). model.safetensors also holds a small random text tower (token and
                     position embeddings, one encoder layer, final_layer_norm, text_projection,
                     logit_scale as a 0-d tensor; hidden 32, 1 layer, vocab 64, 16 positions)
                     that a converter must ignore. No position_ids. model.safetensors 392 kB.
  clip_vision_proj/  CLIPVisionModelWithProjection: image 48, patch 16, hidden 96, 3 layers,
                     6 heads, intermediate 160, projection_dim 40; config.json with
                     model_type "clip_vision_model" and every vision field at the top level;
                     model.safetensors holds vision_model.embeddings.position_ids, int64
                     [1, num_patches + 1] = arange (as checkpoints saved before transformers made
                     that buffer non-persistent have it). model.safetensors 1.15 MB: the patch
                     embedding alone is 96 x 3 x 16 x 16 floats.

Each folder:
  config.json              sorted keys, indent 2 (as transformers writes it)
  preprocessor_config.json CLIPImageProcessor as transformers writes it: shortest_edge S, crop
                           S x S, resample 3 (bicubic), rescale 1/255, OpenAI CLIP mean/std,
                           do_convert_rgb; S = the fixture's image_size
  model.safetensors        F32 (+ one I64), metadata {"format": "pt"}; tensors stored in the order
                           the safetensors library uses (larger dtypes first, then by name)
  input.bin                float32 little-endian NCHW, batch 3, standard normal ("already
                           normalised")
  golden.json              {"name", "architecture", "seed", "batch", "image_size",
                            "resolved_config" (what the forward pass ran with, defaults filled in:
                            image_size, patch_size, num_channels, hidden_size, num_hidden_layers,
                            num_attention_heads, intermediate_size, hidden_act, layer_norm_eps,
                            projection_dim),
                            "embeddings" [[float64]] (visual_projection output),
                            "embeddings_f32" [[float32 values]],
                            "pooled" [[float64]] (post_layernorm of the class token: pooler_output),
                            "pooled_f32" [[float32 values]],
                            "last_hidden_state_cls" [[float64]] (row 0 of the last hidden state,
                            before post_layernorm)}
                           float64: the same float32 parameters cast to double, the float32 input
                           upcast, every op in double, softmax included (HF's eager attention would
                           run its softmax in float32 even in a double model; its SDPA path and this
                           script do not). *_f32: the same model and
                           input run in float32 (CPU), so a consumer can measure PyTorch float32's
                           own error |f32 - f64| and hold its result to a multiple of it.

Seeds: parameters torch.Generator(seed); input torch.Generator(seed + 1); the text tower of
clip_full torch.Generator(seed + 2). Parameter init is make_fixtures.py's (N(0, 1/fan_in) for
conv / linear weights, N(0, 0.1^2) biases, layernorm weight 1 + 0.1 N, bias 0.05 N, class and
position embeddings N(0, 0.5^2)): it keeps activations O(1) and attention far from uniform (HF's
own init, std 0.02 and zero biases, gives near-uniform attention on models this small). If a
draw is degenerate (embedding rows too alike, attention too flat, quick_gelu indistinguishable
from the exact GELU at float32's error) the seed is bumped by 1000 and everything redrawn.

Checks at the end: every written model.safetensors is parsed back, loaded strictly into a fresh
model (text tensors and position_ids set aside) and rerun in float64 (bit-identical to the
golden), an independent numpy float64 forward on the file's tensors agrees to 1e-10, and the max
|f32 - f64| of the embeddings of each fixture is printed and must lie in (0, 1e-3).
"""

import argparse
import json
import math
import os
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

# CLIPVisionConfig.__init__ defaults (transformers models/clip/configuration_clip.py)
VISION_DEFAULTS = OrderedDict([
    ("hidden_size", 768), ("intermediate_size", 3072), ("projection_dim", 512),
    ("num_hidden_layers", 12), ("num_attention_heads", 12), ("num_channels", 3),
    ("image_size", 224), ("patch_size", 32), ("hidden_act", "quick_gelu"),
    ("layer_norm_eps", 1e-5), ("attention_dropout", 0.0), ("initializer_range", 0.02),
    ("initializer_factor", 1.0),
])
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
TRANSFORMERS_VERSION = "4.40.0"
BATCH = 3
F32_ERR_MAX = 1e-3
VERIFY_TOL = 1e-10

FIXTURES = OrderedDict([
    ("clip_full", dict(
        architecture="CLIPModel", seed=6006,
        vision=dict(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=128, num_channels=3),
        projection_dim=48, position_ids=False,
        text=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                  num_hidden_layers=1, max_position_embeddings=16))),
    ("clip_vision_proj", dict(
        architecture="CLIPVisionModelWithProjection", seed=7007,
        vision=dict(image_size=48, patch_size=16, hidden_size=96, num_hidden_layers=3,
                    num_attention_heads=6, intermediate_size=160, num_channels=3),
        projection_dim=40, position_ids=True, text=None)),
])


MODEL_KEYS = ["image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps",
              "projection_dim"]


def resolved(spec, full=False):
    """The vision config the model runs with: the fixture's values over CLIPVisionConfig's
    defaults (full: every CLIPVisionConfig field, else only those that shape the forward pass)."""
    c = OrderedDict(VISION_DEFAULTS)
    c.update(spec["vision"])
    c["projection_dim"] = spec["projection_dim"]
    return c if full else OrderedDict((k, c[k]) for k in MODEL_KEYS)


# ----------------------------------------------------------------------------- model
# Attribute names follow modeling_clip.py so that state_dict() keys are HF's keys.


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, P, S = c["hidden_size"], c["patch_size"], c["image_size"]
        self.image_size = S
        self.class_embedding = nn.Parameter(torch.zeros(D))
        self.patch_embedding = nn.Conv2d(c["num_channels"], D, kernel_size=P, stride=P, bias=False)
        n_pos = (S // P) ** 2 + 1
        self.position_embedding = nn.Embedding(n_pos, D)
        # non-persistent in current transformers (absent from new checkpoints, present in old)
        self.register_buffer("position_ids", torch.arange(n_pos).unsqueeze(0), persistent=False)

    def forward(self, x):
        b, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError("input %dx%d, model %d" % (h, w, self.image_size))
        patches = self.patch_embedding(x).flatten(2).transpose(1, 2)  # [B, N, D], raster order
        cls = self.class_embedding.view(1, 1, -1).expand(b, 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        assert D % H == 0
        self.heads, self.head_dim = H, D // H
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D)
        self.v_proj = nn.Linear(D, D)
        self.out_proj = nn.Linear(D, D)
        self.last_weights = None

    def forward(self, x):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        self.last_weights = w
        o = torch.matmul(w, v).transpose(1, 2).reshape(b, t, d)
        return self.out_proj(o)


class MLP(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = act
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.self_attn = Attention(c)
        self.layer_norm1 = nn.LayerNorm(D, eps=eps)
        self.mlp = MLP(c, act)
        self.layer_norm2 = nn.LayerNorm(D, eps=eps)

    def forward(self, h):
        h = h + self.self_attn(self.layer_norm1(h))
        return h + self.mlp(self.layer_norm2(h))


class Encoder(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(c, act) for _ in range(c["num_hidden_layers"])])

    def forward(self, h):
        for layer in self.layers:
            h = layer(h)
        return h


class VisionTransformer(nn.Module):
    def __init__(self, c, act):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.embeddings = VisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(D, eps=eps)  # sic: HF's name
        self.encoder = Encoder(c, act)
        self.post_layernorm = nn.LayerNorm(D, eps=eps)

    def forward(self, x):
        h = self.encoder(self.pre_layrnorm(self.embeddings(x)))
        return h, self.post_layernorm(h[:, 0, :])


class ClipImageTower(nn.Module):
    """vision_model + visual_projection: CLIPModel's image half, or CLIPVisionModelWithProjection."""

    def __init__(self, c, act=None):
        super().__init__()
        if c["hidden_act"] != "quick_gelu":
            raise ValueError("hidden_act %r: CLIP image towers run quick_gelu" % c["hidden_act"])
        act = QuickGELU() if act is None else act  # (another act only to measure its effect)
        self.vision_model = VisionTransformer(c, act)
        self.visual_projection = nn.Linear(c["hidden_size"], c["projection_dim"], bias=False)

    def forward(self, x):
        last, pooled = self.vision_model(x)
        return OrderedDict([("image_embeds", self.visual_projection(pooled)), ("pooled", pooled),
                            ("last_hidden_state", last)])


def build(c, act=None, eps=None):
    if eps is not None:
        c = OrderedDict(c)
        c["layer_norm_eps"] = eps
    return ClipImageTower(c, act).eval()


def draw_params(model, gen):
    """Redraw every parameter (float32) from gen, in state_dict order (make_fixtures.py's scheme)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("class_embedding") or name.endswith("position_embedding.weight"):
                p.copy_(0.5 * r)
            elif "layer_norm" in name or "layrnorm" in name:
                p.copy_(1.0 + 0.1 * r if name.endswith(".weight") else 0.05 * r)
            elif name.endswith(".weight"):  # conv [D, C, P, P] / linear [out, in]
                p.copy_(r / math.sqrt(p[0].numel()))
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            else:
                raise AssertionError(name)
    return model


def text_tensors(t, projection_dim, gen):
    """A small random CLIP text tower under HF's names (present in CLIPModel files; ignored)."""
    D, Fi, V, L = t["hidden_size"], t["intermediate_size"], t["vocab_size"], t["max_position_embeddings"]
    shapes = OrderedDict()
    shapes["text_model.embeddings.token_embedding.weight"] = [V, D]
    shapes["text_model.embeddings.position_embedding.weight"] = [L, D]
    for i in range(t["num_hidden_layers"]):
        p = "text_model.encoder.layers.%d." % i
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[p + "self_attn.%s.weight" % n] = [D, D]
            shapes[p + "self_attn.%s.bias" % n] = [D]
        for n in ("layer_norm1", "layer_norm2"):
            shapes[p + n + ".weight"] = [D]
            shapes[p + n + ".bias"] = [D]
        shapes[p + "mlp.fc1.weight"] = [Fi, D]
        shapes[p + "mlp.fc1.bias"] = [Fi]
        shapes[p + "mlp.fc2.weight"] = [D, Fi]
        shapes[p + "mlp.fc2.bias"] = [D]
    shapes["text_model.final_layer_norm.weight"] = [D]
    shapes["text_model.final_layer_norm.bias"] = [D]
    shapes["text_projection.weight"] = [projection_dim, D]
    shapes["logit_scale"] = []
    out = OrderedDict()
    for name, shape in shapes.items():
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name == "logit_scale":
            out[name] = math.log(100.0) + 0.1 * r  # trained CLIPs sit near ln(100)
        elif "norm" in name:
            out[name] = 1.0 + 0.1 * r if name.endswith(".weight") else 0.05 * r
        elif name.endswith(".bias"):
            out[name] = 0.1 * r
        elif "embedding" in name:
            out[name] = 0.02 * r
        else:
            out[name] = r / math.sqrt(shape[1])
    return out


# ----------------------------------------------------------------------------- configs


def hf_json(obj):
    """transformers' to_json_string: indent 2, sorted keys."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def config_json(name, spec):
    v = spec["vision"]
    if spec["architecture"] == "CLIPModel":
        t = spec["text"]
        # save_pretrained writes only the sub-config values that differ from the class defaults
        # (hidden_act, layer_norm_eps, num_channels, projection_dim of vision_config: defaults).
        vision = OrderedDict((k, v[k]) for k in v if v[k] != VISION_DEFAULTS.get(k))
        vision["model_type"] = "clip_vision_model"
        text = OrderedDict(t)
        text.update([("bos_token_id", t["vocab_size"] - 2), ("eos_token_id", t["vocab_size"] - 1),
                     ("model_type", "clip_text_model")])
        return OrderedDict([
            ("architectures", ["CLIPModel"]), ("initializer_factor", 1.0),
            ("logit_scale_init_value", 2.6592), ("model_type", "clip"),
            ("projection_dim", spec["projection_dim"]), ("text_config", text),
            ("torch_dtype", "float32"), ("transformers_version", TRANSFORMERS_VERSION),
            ("vision_config", vision),
        ])
    assert spec["architecture"] == "CLIPVisionModelWithProjection"
    c = OrderedDict([("architectures", ["CLIPVisionModelWithProjection"]),
                     ("model_type", "clip_vision_model"), ("dropout", 0.0)])
    c.update(resolved(spec, full=True))
    c.update([("torch_dtype", "float32"), ("transformers_version", TRANSFORMERS_VERSION)])
    return c


def preprocessor_json(S):
    return OrderedDict([
        ("crop_size", OrderedDict([("height", S), ("width", S)])), ("do_center_crop", True),
        ("do_convert_rgb", True), ("do_normalize", True), ("do_rescale", True),
        ("do_resize", True), ("image_mean", OPENAI_CLIP_MEAN),
        ("image_processor_type", "CLIPImageProcessor"), ("image_std", OPENAI_CLIP_STD),
        ("resample", 3), ("rescale_factor", 1 / 255), ("size", {"shortest_edge": S}),
    ])


# ----------------------------------------------------------------------------- safetensors

DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def st_bytes(tensors):
    """name -> torch tensor (float32 / int64) -> safetensors bytes, metadata {"format": "pt"}.

    Ordered as the safetensors library orders a file (larger dtypes first, then by name; the
    header lists them in that order). All-F32 files go through make_fixtures.py's writer; the
    one with an int64 tensor is laid out the same way here (that writer only knows F32)."""
    def arr(t):
        a = t.detach().cpu().numpy()
        # np.array, not np.ascontiguousarray: that one turns logit_scale's 0-d shape into [1]
        return np.array(a, dtype="<i8" if a.dtype.kind == "i" else "<f4", order="C")

    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    arrays = OrderedDict((k, arr(tensors[k])) for k in order)
    meta = OrderedDict([("format", "pt")])
    if all(DTYPES[a.dtype] == "F32" for a in arrays.values()):
        return mf.safetensors_bytes(arrays, meta)
    header = OrderedDict([("__metadata__", meta)])
    off = 0
    for name, a in arrays.items():
        header[name] = OrderedDict([("dtype", DTYPES[a.dtype]), ("shape", list(a.shape)),
                                    ("data_offsets", [off, off + a.nbytes])])
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    return b"".join([struct.pack("<Q", len(h)), h] + [a.tobytes(order="C") for a in arrays.values()])


def read_st(path):
    """Strict parse -> (metadata, OrderedDict name -> torch tensor)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0 and 8 + n <= len(buf)
    header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__")
    data, expect, out = buf[8 + n:], 0, OrderedDict()
    np_of = {"F32": "<f4", "I64": "<i8"}
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert b == expect, name
        a = np.frombuffer(data[b:e], dtype=np_of[info["dtype"]])
        assert a.nbytes == e - b and a.size == int(np.prod(info["shape"], dtype=np.int64)), name
        out[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
        expect = e
    assert expect == len(data), "trailing bytes"
    return meta, out


# ----------------------------------------------------------------------------- goldens


def run(model, x):
    with torch.no_grad():
        return model(x)


def as64(model32, c, act=None, eps=None):
    m = build(c, act, eps)
    m.load_state_dict(model32.state_dict())
    return m.double().eval()


def degenerate(c, m32, m64, x, out64, out32):
    """None if the draw is a useful test, else why not."""
    e = out64["image_embeds"]
    B = e.shape[0]
    spread = min((e[i] - e[j]).abs().max().item() for i in range(B) for j in range(i + 1, B))
    if spread < 0.1 * e.abs().max().item():
        return "embedding rows too alike (%.3g)" % spread
    T = m64.vision_model.embeddings.position_embedding.weight.shape[0]
    peak = min(L.self_attn.last_weights.max(-1).values.mean().item()
               for L in m64.vision_model.encoder.layers)
    if peak < 2.0 / T:
        return "attention too flat (mean peak %.3g vs uniform %.3g)" % (peak, 1.0 / T)
    err32 = (out32["image_embeds"].double() - e).abs().max().item()
    gelu = run(as64(m32, c, act=nn.GELU()), x)["image_embeds"]
    if (gelu - e).abs().max().item() < 100 * err32:
        return "quick_gelu vs GELU only %.3g apart" % (gelu - e).abs().max().item()
    return None


def numpy_forward(c, t, x):
    """Independent float64 forward on the file's tensors (HF names, [out, in] weights)."""
    f = lambda n: t[n].double().numpy()
    B, C, S, _ = x.shape
    P, D, H = c["patch_size"], c["hidden_size"], c["num_attention_heads"]
    G, Dh, eps = S // P, D // H, c["layer_norm_eps"]
    pre = "vision_model."
    pt = x.reshape(B, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, G * G, C * P * P)
    h = pt @ f(pre + "embeddings.patch_embedding.weight").reshape(D, C * P * P).T
    cls = np.broadcast_to(f(pre + "embeddings.class_embedding"), (B, 1, D))
    h = np.concatenate([cls, h], axis=1) + f(pre + "embeddings.position_embedding.weight")

    def ln(v, n):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * f(n + ".weight") + f(n + ".bias")

    def lin(v, n):
        return v @ f(n + ".weight").T + f(n + ".bias")

    h = ln(h, pre + "pre_layrnorm")
    T = h.shape[1]
    for i in range(c["num_hidden_layers"]):
        p = pre + "encoder.layers.%d." % i
        y = ln(h, p + "layer_norm1")
        q, k, v = (lin(y, p + "self_attn.%s_proj" % n).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)
                   for n in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(Dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        h = h + lin((s @ v).transpose(0, 2, 1, 3).reshape(B, T, D), p + "self_attn.out_proj")
        y = lin(ln(h, p + "layer_norm2"), p + "mlp.fc1")
        y = y / (1.0 + np.exp(-1.702 * y))
        h = h + lin(y, p + "mlp.fc2")
    pooled = ln(h[:, 0], pre + "post_layernorm")
    return pooled @ f("visual_projection.weight").T, pooled, h[:, 0]


def make_fixture(name, spec, out_root, files):
    t0 = time.time()
    c = resolved(spec)
    S, C = c["image_size"], c["num_channels"]
    seed = spec["seed"]
    for _ in range(mf.MAX_ATTEMPTS):
        m32 = draw_params(build(c), torch.Generator().manual_seed(seed))
        x32 = torch.randn((BATCH, C, S, S), generator=torch.Generator().manual_seed(seed + 1))
        m64 = as64(m32, c)
        out64 = run(m64, x32.double())
        out32 = run(m32, x32)
        why = degenerate(c, m32, m64, x32.double(), out64, out32)
        if why is None:
            break
        print("%s seed %d: %s, reseeding" % (name, seed, why))
        seed += mf.SEED_BUMP
    else:
        raise RuntimeError("%s: no usable seed" % name)

    tensors = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    if spec["position_ids"]:
        tensors["vision_model.embeddings.position_ids"] = m32.vision_model.embeddings.position_ids.clone()
    if spec["text"] is not None:
        tensors.update(text_tensors(spec["text"], spec["projection_dim"],
                                    torch.Generator().manual_seed(seed + 2)))

    e64, e32 = out64["image_embeds"], out32["image_embeds"]
    g = OrderedDict()
    g["name"] = name
    g["architecture"] = spec["architecture"]
    g["seed"] = seed
    g["batch"] = BATCH
    g["image_size"] = S
    g["resolved_config"] = c
    g["embeddings"] = e64.tolist()
    g["embeddings_f32"] = e32.double().tolist()
    g["pooled"] = out64["pooled"].tolist()
    g["pooled_f32"] = out32["pooled"].double().tolist()
    g["last_hidden_state_cls"] = out64["last_hidden_state"][:, 0].tolist()

    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    for fname, data in [
        ("config.json", hf_json(config_json(name, spec))),
        ("preprocessor_config.json", hf_json(preprocessor_json(S))),
        ("model.safetensors", st_bytes(tensors)),
        ("input.bin", x32.numpy().astype("<f4").tobytes()),
        ("golden.json", (json.dumps(g) + "\n").encode("utf-8")),
    ]:
        mf.atomic_write(os.path.join(folder, fname), data)
        files.append((os.path.join(folder, fname), len(data)))

    # how far the references move under the two mistakes a converter could make
    gelu = run(as64(m32, c, act=nn.GELU()), x32.double())["image_embeds"]
    eps6 = run(as64(m32, c, eps=1e-6), x32.double())["image_embeds"]
    err = (e32.double() - e64).abs().max().item()
    print("%-17s seed %d, %d tensors, max|embed| %.4f; max|f32 - f64| embeddings %.3g, pooled %.3g;"
          " exact GELU moves embeddings by %.3g, eps 1e-6 by %.3g; %.2fs"
          % (name, seed, len(tensors), e64.abs().max().item(), err,
             (out32["pooled"].double() - out64["pooled"]).abs().max().item(),
             (gelu - e64).abs().max().item(), (eps6 - e64).abs().max().item(), time.time() - t0))


def verify(name, spec, out_root):
    """Re-read the folder: strict load into a fresh model, rerun; independent numpy forward."""
    folder = os.path.join(out_root, name)
    meta, t = read_st(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "golden.json")) as fh:
        g = json.load(fh)
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    assert meta == {"format": "pt"}
    c = OrderedDict(VISION_DEFAULTS)
    if cfg["model_type"] == "clip":
        assert cfg["architectures"] == ["CLIPModel"]
        c.update((k, v) for k, v in cfg["vision_config"].items() if k in c)
        c["projection_dim"] = cfg["projection_dim"]  # CLIPModel's, not vision_config's
    else:
        assert cfg["model_type"] == "clip_vision_model"
        c.update((k, v) for k, v in cfg.items() if k in c)
    c = OrderedDict((k, c[k]) for k in MODEL_KEYS)
    assert c == OrderedDict(g["resolved_config"]), (c, g["resolved_config"])

    pid = t.pop("vision_model.embeddings.position_ids", None)
    assert (pid is not None) == spec["position_ids"]
    if pid is not None:
        assert pid.dtype == torch.int64 and pid.tolist() == [list(range(pid.shape[1]))]
    vision = OrderedDict((k, v) for k, v in t.items()
                         if k.startswith("vision_model.") or k == "visual_projection.weight")
    others = sorted(set(t) - set(vision))
    assert (len(others) > 0) == (spec["text"] is not None), others
    assert all(k.startswith("text_") or k == "logit_scale" for k in others), others
    m = build(c).double()
    m.load_state_dict(OrderedDict((k, v.double()) for k, v in vision.items()), strict=True)
    S, C = c["image_size"], c["num_channels"]
    x = np.fromfile(os.path.join(folder, "input.bin"), dtype="<f4")
    assert x.size == g["batch"] * C * S * S
    x = torch.from_numpy(x.reshape(g["batch"], C, S, S).astype(np.float64))
    out = run(m, x)
    same = (out["image_embeds"].tolist() == g["embeddings"] and out["pooled"].tolist() == g["pooled"]
            and out["last_hidden_state"][:, 0].tolist() == g["last_hidden_state_cls"])
    ne, npool, ncls = numpy_forward(c, vision, x.numpy())
    errs = [np.abs(ne - np.array(g["embeddings"])).max(), np.abs(npool - np.array(g["pooled"])).max(),
            np.abs(ncls - np.array(g["last_hidden_state_cls"])).max()]
    ok = same and max(errs) <= VERIFY_TOL
    print("%-17s verify %s: reloaded model bit-identical %s, numpy forward max err %.2e"
          % (name, "OK" if ok else "FAILED", same, max(errs)))
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/families")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    files = []
    for name, spec in FIXTURES.items():
        make_fixture(name, spec, args.out, files)
    for path, n in files:
        print("%8d  %s" % (n, path))
        if path.endswith(".safetensors"):
            assert n < 3 << 19, path  # 1.5 MiB (clip_vision_proj's stated size needs 1.1 MB)
    ok = all([verify(name, spec, args.out) for name, spec in FIXTURES.items()])

    # self-check: PyTorch float32's own error on the embeddings, per fixture
    for name in FIXTURES:
        with open(os.path.join(args.out, name, "golden.json")) as fh:
            g = json.load(fh)
        err = np.abs(np.array(g["embeddings_f32"]) - np.array(g["embeddings"])).max()
        print("%-17s max|f32 - f64| embeddings = %.3e" % (name, err))
        assert 0 < err < F32_ERR_MAX, (name, err)
    print("%d files, %d bytes in all, %.2fs" % (len(files), sum(n for _, n in files), time.time() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
