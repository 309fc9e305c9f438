#!/usr/bin/env bash
# The GPU-host measurement script (issue "Real-GPU speed"): run on a host with an NVIDIA GPU, from the
# repo root, after `bash ../shared/gpu-host/pack.sh` packed Node, Dawn and the built dist/ into .gpukit/:
#   bash bench/gpu/run.sh [STAGE...]
# stages: info kernels-f16 fidelity model-f16 overhead model attention1 torch kernels1 kernels8 kernels-f16-8
# (default: the first seven, what the 2026-11-30 runs left unmeasured: the tensor-core variants, the
# staged upload and GPU input check, split_keys attention; ~6 minutes)
# Every stage has its own time limit so one hang cannot eat the others; logs and JSON go to $OUT (or
# bench/results/gpu); with $OUT set (the device tool) they are also packed into $OUT/gpu-results.tgz after
# every stage, since only a few files come back from there. The kernel stages validate every variant
# against float64 before timing it.
# Env: WEBVIT_GPU_MODELS (default ti16,s16,b16), WEBVIT_GPU_BATCHES (1,8,32), WEBVIT_GPU_RUNS (20).
set -uo pipefail
PACK=${OUT:-}
OUT=${WEBVIT_GPU_RESULTS:-bench/results/gpu}; mkdir -p "$OUT"
KIT=${WEBVIT_GPU_KIT:-.gpukit}
MODELS=${WEBVIT_GPU_MODELS:-ti16,s16,b16}
BATCHES=${WEBVIT_GPU_BATCHES:-1,8,32}
RUNS=${WEBVIT_GPU_RUNS:-20}
F16_FLAGS='enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'
F16_VARIANTS=sgmat_32x64,sgmat_64x64,sgmat_128x64,sgmat_128x128,tiled,tiled_32x64,slicedk_16x64
stages=${*:-info kernels-f16 fidelity model-f16 overhead model attention1}
export WEBVIT_CACHE_DIR=$OUT/cache WEBVIT_RAW_STDERR=${WEBVIT_RAW_STDERR:-0}
if [ -d "$KIT" ]; then run=(bash "$KIT/run.sh"); cli=(node "$KIT/webvit/dist/cli.js"); else run=(); cli=(node dist/cli.js); fi
stage() { # name limit-seconds command...
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*" | tee -a "$OUT/summary.txt"
  local t0=$SECONDS
  timeout -k 5 "$limit" "${run[@]}" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; local rc=$?
  echo "=== $name: rc $rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
  [ -n "$PACK" ] && tar czf "$PACK/gpu-results.tgz" -C "$OUT" --exclude=cache . 2>/dev/null
  return 0
}
for s in $stages; do
  case $s in
    info)
      { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true; } >"$OUT/info.txt"
      stage features 60 node bench/gpu/features.mjs ;;
    kernels1) stage kernels-b1 120 "${cli[@]}" bench kernels --op matmul --model b16 --batch 1 --runs 15 --out "$OUT" ;;
    attention1) stage attention-b1 120 "${cli[@]}" bench kernels --op attention --model ti16,b16 --batch 1 --runs 15 --out "$OUT" ;;
    kernels8) stage kernels-b8 120 "${cli[@]}" bench kernels --op matmul --model b16 --batch 8 --runs 15 --out "$OUT" ;;
    model) stage model 200 "${cli[@]}" bench model --model "$MODELS" --batches "$BATCHES" --runs "$RUNS" --out "$OUT" ;;
    model-f16) stage model-f16 200 env WEBVIT_DAWN_FLAGS="$F16_FLAGS" "${cli[@]}" bench model --model "$MODELS" --batches "$BATCHES" --runs "$RUNS" --precision f16 --out "$OUT" ;;
    kernels-f16) stage kernels-f16-b1 120 env WEBVIT_DAWN_FLAGS="$F16_FLAGS" "${cli[@]}" bench kernels --op matmul --variant "$F16_VARIANTS" --model b16 --batch 1 --runs 15 --out "$OUT/f16" ;;
    kernels-f16-8) stage kernels-f16-b8 120 env WEBVIT_DAWN_FLAGS="$F16_FLAGS" "${cli[@]}" bench kernels --op matmul --variant "$F16_VARIANTS" --model b16 --batch 8 --runs 15 --out "$OUT/f16" ;;
    fidelity)
      [ -f test/fixtures/generated/vit_s16/golden.json ] || stage fixture-vit_s16 120 python3 tools/make_fixtures.py --only vit_s16
      stage fidelity 120 env WEBVIT_DAWN_FLAGS="$F16_FLAGS" node bench/gpu/fidelity.mjs ;;
    torch) stage torch 120 python3 bench/gpu/torch_vit.py ;;
    overhead) stage overhead 120 bash -c 'for a in "ti16 1" "b16 1" "ti16 32" "b16 32"; do node bench/gpu/overhead.mjs $a; done' ;;
    *) echo "unknown stage $s" >&2 ;;
  esac
done
# The end of the output is what comes back first: the tables.
for f in "$OUT"/model-*.md "$OUT"/fidelity.out "$OUT"/torch.out; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
cat "$OUT/summary.txt"
