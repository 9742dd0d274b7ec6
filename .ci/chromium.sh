#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the web page tests (Debian's packages).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium.sh: chromium is missing and there is no apt-get to install it" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "chromium.sh: installing Debian's chromium and chromium-driver"
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium chromium-driver >/dev/null
