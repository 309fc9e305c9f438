#!/usr/bin/env python3
"""Train the small webvit demo ViT on Fashion-MNIST (CPU, Debian's PyTorch) and export it.

Usage:
    /usr/bin/python3 tools/train_fashion_mnist.py [--out DIR] [--epochs N] [--seed S]
        [--threads T] [--limit-train N] [--data DIR] [--batch-size B] [--lr LR]

    --out DIR          output folder (default: models/fashion-mnist)
    --epochs N         training epochs (default: DEFAULT_EPOCHS below)
    --seed S           seed for init, shuffling and augmentation (default: 0)
    --threads T        torch CPU threads (default: 2; on a busy machine 1 is often faster)
    --limit-train N    train on the first N training images only (smoke tests)
    --data DIR         folder with the four idx .gz files
                       (default: /usr/share/datasets/fashion-mnist, Debian dataset-fashion-mnist)

Needs only Debian's python3 with torch, torchvision and numpy, plus the data package
(`apt-get install -y dataset-fashion-mnist`); the idx files are read directly (torchvision's
dataset class would try to download). The model is torchvision's VisionTransformer with a
1-channel conv_proj (built by tools/make_fixtures.py's build_model, whose safetensors writer is
reused for the export, so the file follows docs/weights-format.md exactly).

Preprocessing (what the engine must feed the model): grayscale 28x28 uint8 pixels p, scaled
x = p / 255 in float32, then (x - MEAN) / STD with MEAN = 0.2860, STD = 0.3530 (Fashion-MNIST
training-set mean / std of x, rounded to 4 decimals), NCHW with C = 1.

Model (CONFIG below): patch 7 (17 tokens: 4x4 patches + class token), hidden 128, 4 layers,
4 heads, mlp 256, cls pooling, layer_norm_eps 1e-6; 540,170 parameters = 2.16 MB of f32.
Patch 4 (50 tokens) was measured at about 1.4-1.8x the time per training step with a slower
early learning curve at equal cost (hidden 64), so the CPU budget goes into more epochs instead.
Cost: about 0.2 s of CPU per 128-image step on one core of these machines; about 100-150 s per
epoch (train + test eval) with --threads 1 under nice 19 while other jobs share the 2 cores.

Training: AdamW (wd 0.05, no decay on biases / norms / embeddings), linear warmup then cosine
decay to 0, label smoothing 0.1, grad-norm clip 1.0, batch 128, augmentation = random crop
28x28 from the image zero-padded by 2 (the background is 0) + horizontal flip (clothes are
left/right symmetric). The test set (10,000 images) is evaluated after every epoch; the model
exported is the FINAL one (no selection on the test set).

Outputs in DIR:
    model.safetensors              webvit weights (f32), config + 10 class labels in metadata
    training.json                  script, seed, epochs, hyperparameters, versions, wall time,
                                   per-epoch log, test accuracy, per-class accuracy, confusion
                                   matrix, preprocessing, export self-check, predictions layout
    pytorch_test_predictions.bin   for the 10,000 test images in dataset order: int32 LE top-1
                                   class [10000], then float32 LE logits [10000, 10] row-major
                                   (PyTorch float32, eval mode, from the exported weights)

Before writing, the exported tensors are re-read and an independent float64 numpy forward pass
(make_fixtures.numpy_forward) is compared with PyTorch's logits on test images.

Threads: OMP_WAIT_POLICY defaults to PASSIVE here (set before torch loads) because OpenMP's
spin-waiting makes 2-thread training many times slower when other processes share the 2 cores.
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections import OrderedDict

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402

sys.dont_write_bytecode = True  # no tools/__pycache__ from importing make_fixtures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530  # checked against the data at startup

CONFIG = OrderedDict([
    ("image_size", 28), ("patch_size", 7), ("num_channels", 1), ("hidden_size", 128),
    ("num_layers", 4), ("num_heads", 4), ("mlp_size", 256), ("num_classes", 10),
    ("layer_norm_eps", 1e-6), ("qkv_bias", True), ("pooling", "cls"),
])

DEFAULT_EPOCHS = 16
HP = OrderedDict([
    ("batch_size", 128), ("optimizer", "AdamW"), ("lr", 1e-3), ("betas", [0.9, 0.999]),
    ("weight_decay", 0.05), ("no_weight_decay", "biases, layernorms, cls_token, pos_embed"),
    ("warmup_epochs", 1), ("schedule", "linear warmup per step, then cosine to 0 per step"),
    ("label_smoothing", 0.1), ("grad_clip_norm", 1.0),
    ("augment", "random crop 28 from zero-pad 2 (per image) + horizontal flip p=0.5"),
    ("eval_batch_size", 1000),
])

MAX_BYTES = 5 * 1000 * 1000


# ----------------------------------------------------------------------------- data


def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = buf[0] << 8 | buf[1], buf[2], buf[3]
    assert zero == 0 and dtype == 0x08, "%s: not a uint8 idx file" % path
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim)
    assert data.size == int(np.prod(dims)), path
    return data.reshape(dims)


def load_split(data_dir, prefix):
    x = read_idx(os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % prefix))
    y = read_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % prefix))
    assert x.shape[0] == y.shape[0] and x.shape[1:] == (28, 28)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def normalise(u8):
    """uint8 [B, 28, 28] -> float32 [B, 1, 28, 28], (p / 255 - MEAN) / STD."""
    x = u8.to(torch.float32).div_(255.0)
    return x.sub_(MEAN).div_(STD).unsqueeze(1)


def augment(u8, gen, pad=2):
    """Per-image random crop from a zero-padded image, then random horizontal flip."""
    B, S = u8.shape[0], u8.shape[1]
    p = torch.nn.functional.pad(u8, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    ar = torch.arange(S)
    rows = (oy[:, None] + ar)[:, :, None]
    cols = (ox[:, None] + ar)[:, None, :]
    out = p[torch.arange(B)[:, None, None], rows, cols]
    flip = torch.rand(B, generator=gen) < 0.5
    return torch.where(flip[:, None, None], out.flip(-1), out)


# ----------------------------------------------------------------------------- model


def make_model(cfg):
    model = mf.build_model(cfg)
    # build_model swapped in a 1-channel conv_proj after torchvision's init; give it the same
    # init torchvision uses for its own conv_proj (lecun-normal weight, zero bias).
    conv = model.conv_proj
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    nn.init.trunc_normal_(conv.weight, std=math.sqrt(1.0 / fan_in))
    nn.init.zeros_(conv.bias)
    return model


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name in ("class_token", "encoder.pos_embedding"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step, total, warmup, base):
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def predict(model, x_u8, bs):
    model.eval()
    out = []
    for i in range(0, x_u8.shape[0], bs):
        out.append(model(normalise(x_u8[i:i + bs])))
    return torch.cat(out)


# ----------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-train", type=int, default=0, metavar="N")
    ap.add_argument("--data", default=DATA_DIR)
    ap.add_argument("--batch-size", type=int, default=HP["batch_size"])
    ap.add_argument("--lr", type=float, default=HP["lr"])
    args = ap.parse_args(argv)
    t_start = time.time()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    hp = OrderedDict(HP)
    hp["batch_size"], hp["lr"] = args.batch_size, args.lr
    cfg = mf.ordered_config(CONFIG)

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    assert xtr.shape[0] == 60000 and xte.shape[0] == 10000
    f = xtr.to(torch.float64) / 255.0
    data_mean, data_std = f.mean().item(), f.std().item()
    del f
    assert abs(data_mean - MEAN) < 1e-3 and abs(data_std - STD) < 1e-3, (data_mean, data_std)
    if args.limit_train:
        xtr, ytr = xtr[:args.limit_train], ytr[:args.limit_train]
    n_train = xtr.shape[0]

    model = make_model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(param_groups(model, hp["weight_decay"]), lr=hp["lr"],
                            betas=tuple(hp["betas"]))
    crit = nn.CrossEntropyLoss(label_smoothing=hp["label_smoothing"])
    bs = hp["batch_size"]
    steps_per_epoch = n_train // bs  # drop the last partial batch
    total = steps_per_epoch * args.epochs
    warmup = min(total, max(1, round(hp["warmup_epochs"] * steps_per_epoch)))
    gen = torch.Generator().manual_seed(args.seed + 1)

    print("webvit Fashion-MNIST: config %s" % json.dumps(cfg))
    print("params %d (%.2f MB f32), train %d, test %d, epochs %d, %d steps/epoch, threads %d, "
          "torch %s, torchvision %s, OMP_WAIT_POLICY=%s"
          % (n_params, n_params * 4 / 1e6, n_train, xte.shape[0], args.epochs, steps_per_epoch,
             args.threads, torch.__version__, torchvision.__version__,
             os.environ.get("OMP_WAIT_POLICY")), flush=True)

    log = []
    step = 0
    for epoch in range(args.epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(n_train, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            x = normalise(augment(xtr[idx], gen))
            y = ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, hp["lr"])
            logits = model(x)
            loss = crit(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip_norm"])
            opt.step()
            step += 1
            loss_sum += loss.item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.shape[0]
            if (b + 1) % 100 == 0:
                print("  epoch %d step %d/%d loss %.4f train-acc %.4f lr %.2e %.1fs"
                      % (epoch + 1, b + 1, steps_per_epoch, loss_sum / seen, correct / seen,
                         opt.param_groups[0]["lr"], time.time() - t0), flush=True)
        t_train = time.time() - t0
        test_logits = predict(model, xte, hp["eval_batch_size"])
        test_acc = (test_logits.argmax(1) == yte).double().mean().item()
        dt = time.time() - t0
        log.append(OrderedDict([("epoch", epoch + 1), ("train_loss", loss_sum / seen),
                                ("train_acc", correct / seen), ("test_acc", test_acc),
                                ("train_s", round(t_train, 1)), ("epoch_s", round(dt, 1))]))
        elapsed = time.time() - t_start
        eta = elapsed / (epoch + 1) * (args.epochs - epoch - 1)
        print("epoch %d/%d: loss %.4f train-acc %.4f test-acc %.4f | %.1fs (train %.1fs) | "
              "elapsed %.0fs, eta %.0fs"
              % (epoch + 1, args.epochs, loss_sum / seen, correct / seen, test_acc, dt, t_train,
                 elapsed, eta), flush=True)

    # ------------------------------------------------------------------ export (final model)
    model.eval()
    tensors = mf.file_tensors(model, cfg)
    meta = OrderedDict()
    meta["format"] = "webvit"
    meta["webvit.version"] = "1"
    meta["webvit.config"] = json.dumps(cfg)
    meta["webvit.labels"] = json.dumps(LABELS)
    st = mf.safetensors_bytes(tensors, meta)
    assert len(st) <= MAX_BYTES, "weight file %d B > %d B" % (len(st), MAX_BYTES)

    # Predictions from a model rebuilt from the exported bytes (exactly what the engine gets).
    os.makedirs(args.out, exist_ok=True)
    st_path = os.path.join(args.out, "model.safetensors")
    mf.atomic_write(st_path, st)
    rmeta, rt = mf.read_safetensors(st_path)
    assert rmeta == meta and list(rt) == list(tensors)
    exported = mf.model_from_file(cfg, rt).float().eval()  # f64 copy of f32 values -> exact
    logits = predict(exported, xte, hp["eval_batch_size"])
    top1 = logits.argmax(1)
    acc = (top1 == yte).double().mean().item()

    # Independent check: numpy float64 forward on the file tensors vs PyTorch float32.
    n_chk = 200
    xchk = normalise(xte[:n_chk]).numpy().astype(np.float64)
    _, np_logits = mf.numpy_forward(cfg, rt, xchk)
    chk_err = float(np.abs(np_logits - logits[:n_chk].double().numpy()).max())
    chk_top1 = int((np_logits.argmax(1) == top1[:n_chk].numpy()).sum())
    assert chk_err < 1e-3, chk_err

    pred_path = os.path.join(args.out, "pytorch_test_predictions.bin")
    pred = (top1.numpy().astype("<i4").tobytes()
            + logits.numpy().astype("<f4").tobytes(order="C"))
    mf.atomic_write(pred_path, pred)

    conf = torch.zeros(10, 10, dtype=torch.int64)
    conf.index_put_((yte, top1), torch.ones_like(yte), accumulate=True)
    per_class = OrderedDict((LABELS[c], conf[c, c].item() / conf[c].sum().item())
                            for c in range(10))
    wall = time.time() - t_start
    info = OrderedDict()
    info["script"] = "tools/train_fashion_mnist.py"
    info["argv"] = sys.argv[1:] if argv is None else list(argv)
    info["seed"] = args.seed
    info["epochs"] = args.epochs
    info["train_images"] = n_train
    info["kept_model"] = "final (last epoch; no selection on the test set)"
    info["config"] = cfg
    info["params"] = n_params
    info["hyperparameters"] = hp
    info["steps"] = total
    info["warmup_steps"] = warmup
    info["versions"] = OrderedDict([
        ("python", platform.python_version()), ("torch", torch.__version__),
        ("torchvision", torchvision.__version__), ("numpy", np.__version__)])
    info["threads"] = args.threads
    info["machine"] = OrderedDict([("cpus", os.cpu_count()), ("platform", platform.platform())])
    info["wall_time_s"] = round(wall, 1)
    info["test_accuracy"] = acc
    info["per_class_accuracy"] = per_class
    info["confusion_matrix"] = OrderedDict([
        ("rows", "true class"), ("cols", "predicted class"), ("matrix", conf.tolist())])
    info["preprocessing"] = OrderedDict([
        ("image_size", 28), ("grayscale", True), ("channels", 1), ("layout", "NCHW"),
        ("scale", "x = pixel / 255 (float32)"), ("mean", MEAN), ("std", STD),
        ("normalise", "(x - mean) / std"),
        ("mean_std_source", "Fashion-MNIST training set (60000 images), rounded to 4 decimals"),
        ("measured_mean", data_mean), ("measured_std", data_std)])
    info["labels"] = LABELS
    info["dataset"] = OrderedDict([
        ("source", "Debian package dataset-fashion-mnist"), ("dir", args.data),
        ("test_order", "t10k-images-idx3-ubyte.gz order")])
    info["export_check"] = OrderedDict([
        ("numpy_float64_vs_torch_float32_max_abs_logit_diff", chk_err),
        ("images", n_chk), ("top1_agree", chk_top1)])
    info["files"] = OrderedDict([
        ("model.safetensors", OrderedDict([("bytes", len(st)),
                                           ("sha256", hashlib.sha256(st).hexdigest())])),
        ("pytorch_test_predictions.bin", OrderedDict([
            ("bytes", len(pred)), ("sha256", hashlib.sha256(pred).hexdigest()),
            ("layout", "int32 LE top1 [10000], then float32 LE logits [10000, 10] row-major, "
                       "test images in dataset order; PyTorch float32 eval mode on the "
                       "exported weights"),
            ("count", int(top1.shape[0])), ("num_classes", 10)]))])
    info["epoch_log"] = log
    mf.atomic_write(os.path.join(args.out, "training.json"),
                    (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    print("final test accuracy %.4f (exported model); per class: %s"
          % (acc, ", ".join("%s %.3f" % kv for kv in per_class.items())))
    print("export check: numpy f64 vs torch f32 max |dlogit| %.2e on %d images, top-1 agree %d/%d"
          % (chk_err, n_chk, chk_top1, n_chk))
    print("wrote %s (%d B), %s, %s; wall %.0fs"
          % (st_path, len(st), pred_path, os.path.join(args.out, "training.json"), wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
