#!/bin/sh
# Chromium for the dashboard tests (tests/dashboard), from Debian's packages.
# Playwright drives it; Playwright's own browser downloads are never used.
# Does nothing when it is already there; needs root to install.
set -eu

CHROMIUM="${SEEDANCE_MOCK_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "the dashboard tests need Chromium: run" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core" >&2
  exit 1
fi
echo "installing chromium (Debian package) for the dashboard tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium fonts-dejavu-core >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "chromium is still missing at $CHROMIUM" >&2
  exit 1
fi
