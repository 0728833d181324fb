#!/usr/bin/env bash
# Full test suite: install, typecheck, lint, unit tests, end-to-end tests (Playwright + system Chromium).
# SKIP_INSTALL=1 skips the npm install step; CHROMIUM_PATH overrides /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

if [[ "${SKIP_INSTALL:-0}" != "1" ]]; then
  step "install dependencies"
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  step "install chromium"
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  else
    echo "ERROR: no Chromium at $CHROMIUM. The end-to-end tests need it." >&2
    echo "       Install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROMIUM_PATH." >&2
    exit 1
  fi
fi

step "typecheck"
npm run typecheck

step "lint"
npm run lint

step "unit tests"
npm run test:unit

step "end-to-end tests"
npm run test:e2e
