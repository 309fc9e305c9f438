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
  # The Fashion-MNIST test set: the quantised models' accuracy floors (test/model/quant_parity.test.ts).
  [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(fashion-mnist)
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
    fashion-mnist) pkgs+=(dataset-fashion-mnist) ;;
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
# apt's own output goes to a file and is printed only when apt fails: a quiet run, and apt's real
# reason (its "unmet dependencies" lines) when not. Not -qq: that hides those lines too.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webvit-setup-system.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
apt_log=$tmp/apt.log
# A hint for what apt said (the step's own hint when nothing more specific fits).
apt_hint() {
  local named behind
  if grep -qE 'Could not get lock|Unable to acquire the dpkg frontend lock' "$apt_log"; then
    echo "another apt or dpkg is running (unattended-upgrades, another set-up): wait until it ends (\`ps -C apt-get,apt,dpkg\`)"
  elif grep -q 'dpkg was interrupted' "$apt_log"; then
    echo "an earlier install was cut short: run \`${SUDO:+$SUDO }dpkg --configure -a\`"
  elif grep -qE 'No space left on device|You don.t have enough free space' "$apt_log"; then
    echo "the disk is full: free some space (\`df -h / /var/cache/apt\`; \`apt-get clean\` drops downloaded packages)"
  elif grep -qE 'unmet dependencies|held broken packages' "$apt_log"; then
    # " libdw1 : Depends: libelf1 (= 0.188-2.1) but 0.192-4~bpo12+1 is to be installed"
    named=$(sed -n 's/^ *\([^ ]*\) *: *\(Pre\)\{0,1\}Depends: \([^ ]*\).*/\1 \3/p' "$apt_log" | tr ' ' '\n' | sort -u | tr '\n' ' ')
    behind=$(sed -n 's/^ *\([^ ]*\) *: *\(Pre\)\{0,1\}Depends: .* but [^ ]*~bpo12[^ ]* is to be installed.*/\1/p' "$apt_log" | sort -u | sed 's|$|/bookworm-backports|' | tr '\n' ' ')
    if [ -n "$behind" ]; then
      echo "apt could not fit the versions together (its reason is above): a package from bookworm needs an older version of one installed from bookworm-backports (~bpo12). Take it from backports too, \`${SUDO:+$SUDO }apt-get install ${behind% }\`, then rerun; \`apt-cache policy ${named% }\` shows each version's suite"
    else
      echo "apt could not fit the versions together (its reason is above); \`apt-cache policy ${named:-PACKAGE }\` shows each version and its suite (~bpo12: bookworm-backports), and \`${SUDO:+$SUDO }apt-get install NAME/SUITE\` takes one from a given suite"
    fi
  elif grep -qE 'Failed to fetch|Temporary failure resolving|Could not connect|Unable to fetch' "$apt_log"; then
    echo "apt could not download the packages: check the network and the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/); \`${SUDO:+$SUDO }apt-get update\` shows which one fails"
  else
    echo "$hint"
  fi
}
# apt-get ARGS, with apt's output in $apt_log; printed, with a hint that fits it, when it fails.
apt_get() {
  local rc=0
  $SUDO apt-get -q -o Dir::Etc::Preferences="$prefs" "$@" >"$apt_log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    echo "setup-system: \`apt-get $*\` exited $rc; apt said:" >&2
    tail -n 60 "$apt_log" | sed 's/^/  | /' >&2
    hint=$(apt_hint)
  fi
  return "$rc"
}

# Packages built from one source move together: libdw1 0.188 (bookworm) depends on libelf1
# (= 0.188-2.1) exactly. Mesa from bookworm-backports (below, or an earlier `npm run demo`) brings
# libelf1 0.192 and other libraries from there, and a later install that wants libdw1 (PyTorch)
# then finds only bookworm's libdw1 as the candidate: apt gives up ("held broken packages") and
# never looks at the backports one. So for every installed package whose version came from
# bookworm-backports (Debian's backports versions end in ~bpo12+N), the binary packages built from
# the same source are taken from bookworm-backports too. A pin (apt_preferences(5), `src:`) in a
# preferences file passed to this script's apt runs only, so apt's own solver still chooses, and
# the system's pins stay as they are: it only changes which version apt's candidate is for those
# sources' packages, and only those the install needs are installed.
prefs=$tmp/preferences
write_prefs() {
  local src
  if [ -r /etc/apt/preferences ]; then cat /etc/apt/preferences; echo; fi >"$prefs"
  for src in $(dpkg-query -W -f='${db:Status-Abbrev} ${Version} ${source:Package}\n' 2>/dev/null | awk '$1 == "ii" && $2 ~ /~bpo12\+/ { print $3 }' | sort -u); do
    printf 'Explanation: webvit set-up: %s is partly installed from bookworm-backports; its other packages come from there too\nPackage: src:%s\nPin: release n=bookworm-backports\nPin-Priority: 990\n\n' "$src" "$src" >>"$prefs"
  done
}

step "apt-get install ${pkgs[*]}" \
  "read apt's output above; \`${SUDO:+$SUDO }apt-get -f install\` repairs a half-done install (\`dpkg --audit\` lists one), and a full disk shows in \`df -h /\`"
write_prefs
echo "setup-system: apt-get install ${pkgs[*]}"
apt_get install -y --no-install-recommends "${pkgs[@]}"

if [[ " ${need[*]} " == *" lavapipe "* ]]; then
  step "apt-get install -t bookworm-backports mesa-vulkan-drivers (lavapipe)" \
    "check that bookworm-backports is in the apt sources (\`apt-cache policy mesa-vulkan-drivers\` lists its versions)"
  echo "setup-system: apt-get install -t bookworm-backports mesa-vulkan-drivers (lavapipe)"
  apt_get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
fi

# What was asked for is there and apt's view of the system is consistent.
step "apt-get check" "apt-get check found broken dependencies (above): \`${SUDO:+$SUDO }apt-get -f install\` repairs them"
apt_get check
if [[ " ${need[*]} " == *" lavapipe "* ]]; then
  step "checking for lavapipe" "mesa-vulkan-drivers installed but /usr/share/vulkan/icd.d/lvp_icd.json is missing: check \`dpkg -L mesa-vulkan-drivers\`"
  [ -f /usr/share/vulkan/icd.d/lvp_icd.json ]
fi
if [[ " ${need[*]} " == *" chromium "* ]]; then
  step "checking for chromium" "the chromium package installed but \`chromium\` is not on the PATH: check \`dpkg -L chromium\`"
  command -v chromium >/dev/null
fi
if [[ " ${need[*]} " == *" torch "* ]]; then
  step "checking that python3 imports torch and torchvision" \
    "python3-torch and python3-torchvision installed but do not import (the error above): \`apt-cache policy python3-torch python3-torchvision\` shows what is installed"
  /usr/bin/python3 -c 'import torch, torchvision' >"$tmp/import.log" 2>&1 || { tail -n 20 "$tmp/import.log" >&2; false; }
fi
echo "setup-system: done"
