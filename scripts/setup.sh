#!/usr/bin/env bash
# Sets up a fresh clone: system packages (Vulkan CPU driver, Chromium, PyTorch), npm packages,
# the generated test fixtures, dist/, and a `webvit` command on the PATH. Safe to run again: each step is
# skipped when already done.
# Usage: bash scripts/setup.sh [--demo]
#   --demo  only what `webvit classify` needs (lavapipe, npm packages, the `webvit` command):
#           no Chromium, PyTorch or fixtures (those are for the tests).
# Every failure names the step that failed and what to do (scripts/steps.sh).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)

who=setup
# shellcheck source=scripts/steps.sh
. scripts/steps.sh

demo=()
for a in "$@"; do
  case "$a" in
    --demo) demo=(--demo) ;;
    *) echo "setup: unknown argument \"$a\"; usage: bash scripts/setup.sh [--demo]" >&2; exit 2 ;;
  esac
done

# Node: package.json's engines say >= 20.9 (Debian 12's own nodejs is 18).
node_version=$(node -p 'process.versions.node' 2>/dev/null || true)
if [ -z "$node_version" ]; then
  echo "setup: node is not on the PATH; install Node 20 or newer (Debian 12's nodejs is 18: use nodejs.org's binaries or NodeSource), then rerun." >&2
  exit 1
fi
IFS=. read -r major minor _ <<<"$node_version"
if [ "$major" -lt 20 ] || { [ "$major" = 20 ] && [ "$minor" -lt 9 ]; }; then
  echo "setup: Node $node_version is too old; webvit needs 20.9 or newer (Debian 12's nodejs is 18: use nodejs.org's binaries or NodeSource)." >&2
  exit 1
fi

# Its own messages say what failed; `|| exit` keeps this script's trap from repeating them.
bash scripts/setup-system.sh "${demo[@]}" || exit $?

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci" "check the network to the npm registry (\`npm config get registry\`) and the messages above"
  echo "setup: npm ci"
  # onnxruntime-node (a devDependency, for the peer benchmark) would download its CUDA libraries
  # in its install script; it needs only its bundled CPU build.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

if [ ${#demo[@]} = 0 ]; then
  # Big fixtures are generated, not committed (ViT-S/16 at 224 is 88 MB).
  step "generating the test fixtures (tools/make_fixtures.py)" \
    "it needs Debian's python3-torch and python3-torchvision (\`bash scripts/setup-system.sh\` installs them) and about 200 MB free in test/fixtures/generated"
  /usr/bin/python3 tools/make_fixtures.py --out test/fixtures/generated --only vit_s16
  step "computing the explain reference numbers (tools/make_explain_fixtures.py)" \
    "it needs the same Python packages as the fixtures and about 1 MB free in test/fixtures/generated"
  /usr/bin/python3 tools/make_explain_fixtures.py --only vit_s16
fi

# dist/ (the CLI and the library), so that `webvit` works as soon as the set-up ends.
step "building dist/ (node scripts/build.mjs)" "read esbuild's message above; \`npm ci\` installs esbuild"
node scripts/build.mjs

# `webvit` on the PATH, as the README writes it: a two-line shim that runs this checkout's
# dist/cli.js (built by `npm run build`). Root: /usr/local/bin; otherwise ~/.local/bin.
# WEBVIT_BIN_DIR chooses another folder. A `webvit` that is not such a shim (an `npm install -g
# webvit`, say) is left alone.
if [ -n "${WEBVIT_BIN_DIR:-}" ]; then bin_dir=$WEBVIT_BIN_DIR
elif [ "$(id -u)" = 0 ]; then bin_dir=/usr/local/bin
else bin_dir=$HOME/.local/bin
fi
shim="$bin_dir/webvit"
marker="# webvit shim, written by scripts/setup.sh"
if [ -e "$shim" ] && ! grep -qF "$marker" "$shim" 2>/dev/null; then
  echo "setup: $shim exists and is not this checkout's shim; left as it is (this checkout's CLI: node $checkout/dist/cli.js)"
else
  step "writing $shim" "make $bin_dir writable or choose another folder on the PATH with WEBVIT_BIN_DIR=..."
  mkdir -p "$bin_dir"
  quoted=${checkout//\'/\'\\\'\'}
  cat >"$shim.tmp-$$" <<EOF
#!/bin/sh
$marker: runs the webvit CLI of the checkout below.
cli='$quoted/dist/cli.js'
if [ ! -f "\$cli" ]; then
  echo "webvit: \$cli is missing: run \\\`npm run build\\\` in '$quoted'" >&2
  exit 1
fi
exec node "\$cli" "\$@"
EOF
  chmod 755 "$shim.tmp-$$"
  mv -f "$shim.tmp-$$" "$shim"
  case ":$PATH:" in
    *":$bin_dir:"*) echo "setup: \`webvit\` runs node $checkout/dist/cli.js ($shim)" ;;
    *) echo "setup: wrote $shim; $bin_dir is not on your PATH: add it (export PATH=\"$bin_dir:\$PATH\") to run \`webvit\`" ;;
  esac
fi
echo "setup: done"
