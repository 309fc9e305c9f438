"""PyTorch reference timings for the GPU table (issue "Real-GPU speed"), same card, same run as
webvit's `bench model`: torchvision VisionTransformer at ViT-Ti/S/B 16, random weights, 224x224.
fp32 eager batch-1 latency (median wall time incl. host->device copy of the input and the logits
back, as webvit's forward() measures) and images/s at batch 8 and 32; then TF32 and fp16 autocast at
batch 32. Prints a Markdown table. Usage: python3 bench/gpu/torch_vit.py [--models ti16,s16,b16]"""
import argparse, statistics, time
import torch
from torchvision.models.vision_transformer import VisionTransformer

PRESETS = {"ti16": (3, 192, 768), "s16": (6, 384, 1536), "b16": (12, 768, 3072)}


def make(name):
    heads, dim, mlp = PRESETS[name]
    return VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=heads, hidden_dim=dim, mlp_dim=mlp, num_classes=1000).cuda().eval()


def wall(model, batch, runs, autocast=False):
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
        for i in range(runs + 3):
            torch.cuda.synchronize()
            t = time.perf_counter()
            y = model(x.cuda(non_blocking=False)).float().cpu()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times[3:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="ti16,s16,b16")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print("| model | fp32 eager b1 ms | fp32 b8 img/s | fp32 b32 img/s | TF32 b32 img/s | fp16 autocast b32 img/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in a.models.split(","):
        torch.manual_seed(0)
        m = make(name)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        b1 = wall(m, 1, a.runs)
        b8 = 8000 / wall(m, 8, a.runs // 2)
        b32 = 32000 / wall(m, 32, a.runs // 2)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        tf32 = 32000 / wall(m, 32, a.runs // 2)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        f16 = 32000 / wall(m, 32, a.runs // 2, autocast=True)
        print(f"| {name} | {b1:.2f} | {b8:.0f} | {b32:.0f} | {tf32:.0f} | {f16:.0f} |", flush=True)


if __name__ == "__main__":
    main()
