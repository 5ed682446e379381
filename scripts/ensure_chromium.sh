#!/usr/bin/env bash
# The run-report test opens reports in headless Chromium: install Debian's package if missing.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "ensure_chromium: installing Debian's chromium package for the report test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "ensure_chromium: no Chromium and no root apt-get; install it (apt-get install chromium)" \
       "or the report test is skipped (it fails under CI=true)" >&2
fi
