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

# rust-toolchain.toml pins a release (1.95.0). Where rustup's stable is that release but no
# toolchain has its name (these machines cannot download one), the name is linked to it.
pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$(dirname "$0")/../rust-toolchain.toml")
if command -v rustup >/dev/null 2>&1 && ! rustup toolchain list | grep -q "^$pinned-"; then
  if [ "$(rustc +stable --version | cut -d' ' -f2)" = "$pinned" ]; then
    echo "setup: linking toolchain $pinned to rustup's stable" >&2
    rustup toolchain link "$pinned" "$(rustc +stable --print sysroot)"
  else
    echo "setup: rust-toolchain.toml wants Rust $pinned: rustup toolchain install $pinned" >&2
  fi
fi

# cargo-deny for scripts/supply-chain.sh (CI's advisories/licences/bans/sources check),
# pinned; compiling it takes about 4.5 minutes once (2 cores).
deny_version=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $deny_version" ]; then
  echo "setup: installing cargo-deny $deny_version" >&2
  cargo install cargo-deny --version "=$deny_version" --locked
fi
