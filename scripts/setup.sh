#!/usr/bin/env bash
# Installs what building and testing Cursor Bridge needs on Debian/Ubuntu. Idempotent:
# it installs only what is missing, so running it again costs a second.
set -euo pipefail

# Debian packages: pkg-config + libdbus for the keychain (Secret Service) backend;
# gnome-keyring + dbus for the real-keychain test; python3-venv for the official openai
# SDK test; chromium for the UI's real-browser test (Node/npm come with the machine);
# WebKitGTK, the appindicator tray, librsvg and libxdo for the Tauri shell (src-tauri/);
# xvfb, webkit2gtk-driver, dunst and imagemagick to run the real app headless, drive it
# over WebDriver and see its notifications; desktop-file-utils and rpm to inspect the
# packages (scripts/package-test.sh).
packages=(pkg-config libdbus-1-dev build-essential gnome-keyring dbus dbus-x11 python3-venv chromium
  libssl-dev libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  xvfb webkit2gtk-driver dunst imagemagick desktop-file-utils rpm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing: install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
