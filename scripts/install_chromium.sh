#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the browser tests of the web chat page.
#
# Why Debian's package: Playwright's `playwright install` downloads a browser build from a
# host this project cannot reach; Debian's chromium comes through apt like everything else.
# A small Chinese font (WenQuanYi Micro Hei, 1.6 MB) and an emoji font (Noto Color Emoji,
# 10 MB) come too when the machine has none, so pages and screenshots show characters and
# the buttons' icons instead of empty boxes.
# Idempotent (installs only what is missing), non-interactive, says what it does.
set -euo pipefail

missing=()
if [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
if [ ! -x /usr/bin/chromedriver ]; then
    missing+=(chromium-driver)
fi
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    missing+=(fonts-wqy-microhei)
fi
# The page's button icons (🎤 🔊) are emoji.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :charset=1f3a4 2>/dev/null)" ]; then
    missing+=(fonts-noto-color-emoji)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_chromium: nothing to do: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) and the fonts are installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium: apt-get needs root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_chromium: apt-get update"
$SUDO apt-get update -q
echo "install_chromium: apt-get install ${missing[*]}"
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

if [ ! -x /usr/bin/chromium ]; then
    echo "install_chromium: apt-get finished but /usr/bin/chromium is still missing" >&2
    exit 1
fi
echo "install_chromium: ready: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
