#!/usr/bin/env bash
# Makes sure Debian's headless Chromium and its WebDriver are installed, for the page tests
# (tests/browser): `make test` runs this first, as `make test-image` makes sure of a Docker engine.
# Nothing downloads a browser build: both come from Debian's packages (apt, as root). Where they
# cannot be installed this says why and exits 0; the tests then skip loudly, and under CI=true
# they fail instead (tests/skips.py).
set -euo pipefail
log() { echo "chromium: $*" >&2; }

installed() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

if installed; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "chromium or chromedriver is missing and this is not root: apt-get install chromium chromium-driver"
  exit 0
fi
log "installing chromium and chromium-driver from Debian"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null; }; then
  log "apt-get could not install them; the browser tests will say so"
fi
# Debian's launcher sources /etc/chromium.d/dev-shm, whose `[ $shm_avail -lt ... ]` prints
# "unexpected operator" where /dev/shm is mounted twice (findmnt gives two lines); the page tests
# pass --disable-dev-shm-usage themselves (tests/browser/browser.py), so that line says nothing.
installed && log "$(chromium --version 2>/dev/null)"
exit 0
