#!/usr/bin/env bash
# Installs the system packages webvit needs on Debian 12 (bookworm):
#   - a Vulkan loader and Mesa 25's lavapipe (CPU Vulkan driver) from bookworm-backports,
#     so Dawn (npm `webgpu`) finds an adapter on machines without a GPU;
#   - (not with --demo) Debian's chromium (SwiftShader WebGPU) for the browser test;
#   - (not with --demo) Debian's PyTorch/torchvision for the fixture tools.
# Usage: bash scripts/setup-system.sh [--demo]
# Idempotent: does nothing when everything is already present. WEBVIT_SKIP_CHROMIUM=1 skips
# Chromium; WEBVIT_SKIP_SYSTEM=1 skips this script (install the packages yourself).
# Every failure names the step that failed and what to do (scripts/steps.sh).
set -Eeuo pipefail

who=setup-system
# shellcheck source=scripts/steps.sh
. "$(dirname "$0")/steps.sh"

demo=0
for a in "$@"; do
  case "$a" in
    --demo) demo=1 ;;
    *) echo "setup-system: unknown argument \"$a\"; usage: bash scripts/setup-system.sh [--demo]" >&2; exit 2 ;;
  esac
done
if [ "${WEBVIT_SKIP_SYSTEM:-}" = 1 ]; then
  echo "setup-system: WEBVIT_SKIP_SYSTEM=1: not installing system packages"
  exit 0
fi

need=()
{ [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && /sbin/ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; } || need+=(lavapipe)
if [ "$demo" = 0 ]; then
  [ "${WEBVIT_SKIP_CHROMIUM:-}" = 1 ] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
  /usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1 || need+=(torch)
fi
if [ ${#need[@]} = 0 ]; then
  echo "setup-system: all system packages present"
  exit 0
fi

# Only Debian 12 is known: elsewhere say what is missing instead of guessing package names.
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || codename=""
if [ "$codename" != bookworm ]; then
  echo "setup-system: this script installs packages on Debian 12 (bookworm); this system is \"${codename:-unknown}\"." >&2
  echo "setup-system: missing: ${need[*]} (lavapipe = a Vulkan loader and Mesa's lavapipe, or any Vulkan driver for your GPU)." >&2
  echo "setup-system: install them yourself, then rerun with WEBVIT_SKIP_SYSTEM=1." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-system: need root to install: ${need[*]} (run as root, or install sudo)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

# The Debian mirror apt already uses, from either sources format: deb822
# (/etc/apt/sources.list.d/*.sources, "URIs:" lines; Debian 12's installer) or one-line
# (/etc/apt/sources.list and *.list: "deb [options] URI suite ..."; debootstrap, older installs).
# Either file may be missing.
debian_mirror() {
  local f m
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /-security/) { print $i; exit } }' "$f")
    [ -z "$m" ] || { echo "$m"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    m=$(awk '$1 == "deb" && / bookworm / { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($i !~ /-security/) { print $i; exit } }' "$f")
    [ -z "$m" ] || { echo "$m"; return 0; }
  done
  return 1
}

echo "setup-system: installing ${need[*]} (Debian packages; a few minutes the first time)"
if [[ " ${need[*]} " == *" lavapipe "* ]] && ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  step "finding the Debian mirror in the apt sources" \
    "no \`deb\` or \`URIs:\` line for bookworm was found in /etc/apt/sources.list or /etc/apt/sources.list.d/; add \`deb <your Debian mirror> bookworm-backports main\` to /etc/apt/sources.list.d/backports.list yourself"
  mirror=$(debian_mirror)
  step "adding bookworm-backports ($mirror) to /etc/apt/sources.list.d/backports.list" \
    "check that /etc/apt/sources.list.d/ is writable, or add \`deb $mirror bookworm-backports main\` to your apt sources yourself"
  echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
fi

step "apt-get update" \
  "check the network and the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): \`apt-get update\` shows which one fails"
echo "setup-system: apt-get update"
$SUDO apt-get update -qq

pkgs=()
for n in "${need[@]}"; do
  case "$n" in
    lavapipe) pkgs+=(libvulkan1) ;;
    chromium) pkgs+=(chromium) ;;
    torch) pkgs+=(python3-torch python3-torchvision python3-numpy) ;;
  esac
done

# apt-get update exits 0 when a source cannot be reached (it only warns, "W: Failed to fetch"):
# check that the lists it did fetch have what is installed next, so that the message names the
# cause rather than "Unable to locate package".
candidate() { LC_ALL=C apt-cache policy "$1" 2>/dev/null | grep '^  Candidate: [0-9]' >/dev/null; }
wanted="${pkgs[*]}"
if [[ " ${need[*]} " == *" lavapipe "* ]]; then wanted+=" mesa-vulkan-drivers (bookworm-backports)"; fi
step "finding $wanted in apt's package lists" \
  "apt-get update could not fetch the package lists (see its warnings above): check the network and the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/)"
for p in "${pkgs[@]}"; do candidate "$p"; done
if [[ " ${need[*]} " == *" lavapipe "* ]]; then
  LC_ALL=C apt-cache policy mesa-vulkan-drivers 2>/dev/null | grep 'bookworm-backports' >/dev/null
fi
step "apt-get install ${pkgs[*]}" \
  "read apt's message above; \`apt-get -f install\` repairs a half-done install, and a full disk shows in \`df -h /\`"
echo "setup-system: apt-get install ${pkgs[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

if [[ " ${need[*]} " == *" lavapipe "* ]]; then
  step "apt-get install -t bookworm-backports mesa-vulkan-drivers (lavapipe)" \
    "check that bookworm-backports is in the apt sources (\`apt-cache policy mesa-vulkan-drivers\` lists its versions)"
  echo "setup-system: apt-get install -t bookworm-backports mesa-vulkan-drivers (lavapipe)"
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
  step "checking for lavapipe" "mesa-vulkan-drivers installed but /usr/share/vulkan/icd.d/lvp_icd.json is missing: check \`dpkg -L mesa-vulkan-drivers\`"
  [ -f /usr/share/vulkan/icd.d/lvp_icd.json ]
fi
echo "setup-system: done"
