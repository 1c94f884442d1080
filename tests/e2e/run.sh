#!/usr/bin/env bash
# Runs the browser end-to-end tests: installs the npm packages (playwright-core,
# no browser download) and Debian's Chromium when missing, then `node --test`.
# The server binary comes from LIVEROOM_BIN, else $CARGO_TARGET_DIR/release/liveroom,
# else ./target/release/liveroom; this script builds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "e2e: Chromium is missing: apt-get install chromium (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
# Colour emoji for the screenshots (the app uses emoji icons); cosmetic, so never fatal.
if [ "$(id -u)" = 0 ] && command -v fc-list >/dev/null && ! fc-list | grep -qi emoji; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null 2>&1 || true
fi
mkdir -p ../../target/e2e
exec node --test --test-concurrency=1 --test-reporter=spec "$here"/*.test.mjs
