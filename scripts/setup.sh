#!/usr/bin/env bash
# Sets up a fresh clone: system packages (Vulkan CPU driver, Chromium, PyTorch), npm packages,
# and the generated test fixtures. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-system.sh

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# Big fixtures are generated, not committed (ViT-S/16 at 224 is 88 MB).
/usr/bin/python3 tools/make_fixtures.py --out test/fixtures/generated --only vit_s16
