#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser tests: installed with apt-get when missing
# (needs root), then their paths printed: `chromium=/usr/bin/chromium`, `chromedriver=...`.
set -euo pipefail

die() { echo "chromium.sh: $*" >&2; exit 1; }

find_tools() {
  browser="$(command -v chromium || command -v chromium-browser || true)"
  driver="$(command -v chromedriver || true)"
}

find_tools
if [[ -z "$browser" || -z "$driver" ]]; then
  command -v apt-get >/dev/null 2>&1 || die "no chromium/chromedriver and no apt-get: install them by hand"
  [[ "$(id -u)" == 0 ]] || die "installing Chromium needs root: sudo apt-get install chromium chromium-driver"
  echo "chromium.sh: installing Debian's chromium and chromium-driver" >&2
  apt=(apt-get -qq -y --no-install-recommends)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install chromium chromium-driver >/dev/null 2>&1; then
    apt-get -qq update >/dev/null 2>&1 || die "apt-get update failed"
    "${apt[@]}" install chromium chromium-driver >/dev/null 2>&1 || die "apt-get install chromium chromium-driver failed"
  fi
  find_tools
  [[ -n "$browser" && -n "$driver" ]] || die "chromium or chromedriver still missing after apt-get"
fi
echo "chromium=$browser"
echo "chromedriver=$driver"
