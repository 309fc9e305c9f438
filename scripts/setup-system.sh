#!/usr/bin/env bash
# Installs the system packages webvit needs on Debian 12 (bookworm):
#   - a Vulkan loader and Mesa 25's lavapipe (CPU Vulkan driver) from bookworm-backports,
#     so Dawn (npm `webgpu`) finds an adapter on machines without a GPU;
#   - Debian's chromium (SwiftShader WebGPU) for the browser test;
#   - Debian's PyTorch/torchvision for the fixture tools.
# Idempotent: does nothing when everything is already present.
set -euo pipefail

need=()
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || need+=(lavapipe)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1 || need+=(torch)
[ "${WEBVIT_SKIP_CHROMIUM:-}" = 1 ] && need=("${need[@]/chromium}")
if [ -z "${need[*]// /}" ]; then
  echo "setup-system: all system packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-system: need root to install: ${need[*]} (run as root or install sudo)" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

# bookworm-backports, on the same mirror apt already uses
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
fi
$SUDO apt-get update -qq
pkgs=(libvulkan1)
for n in "${need[@]}"; do
  case "$n" in
    chromium) pkgs+=(chromium) ;;
    torch) pkgs+=(python3-torch python3-torchvision python3-numpy) ;;
  esac
done
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
echo "setup-system: done"
