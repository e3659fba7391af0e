#!/usr/bin/env bash
# The real tray app end to end: a production build (UI embedded from ui/dist) runs under
# Xvfb with a private session bus, an isolated HOME and a fake Cursor server, and
# tests/app-e2e/drive.py drives it over WebDriver (tauri-driver + WebKitWebDriver): sign in,
# start the proxy, chat through it, a port clash (one notification, seen on the bus),
# launch at login (the autostart file appears and disappears).
# Usage: scripts/app-e2e.sh        Needs: scripts/setup.sh, npm, ~2 min warm.
set -euo pipefail
. "$(dirname "$0")/lib/fake.sh"
. "$(dirname "$0")/lib/ui.sh"
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cursor-bridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The UI the app embeds; built once unless its sources changed.
build_ui
command -v tauri-driver >/dev/null || nice -n 10 cargo install tauri-driver --locked

echo "==> building the app (custom-protocol: serves ui/dist) and the fake Cursor" >&2
nice -n 10 cargo build --locked -p cursor-bridge-app -p cursor-bridge-tests --bins \
  --features tauri/custom-protocol
app="$CARGO_TARGET_DIR/debug/cursor-bridge-app"
fake="$CARGO_TARGET_DIR/debug/fake-cursor"

new_work_dir

start_fake "$fake" "$work"
fake_url=$(fake_field url)

mkdir -p "$work/home" "$work/cb" "$work/tmp"
# A user's fresh machine: nothing of the developer's leaks in (keychain, config, tokens).
cat >"$work/cb/settings.toml" <<EOF
credential_store = "file"
login_poll_initial_ms = 100
login_poll_max_ms = 500
drain_grace_secs = 1
start_proxy_on_launch = false
EOF

port=$(free_port)
wd_port=$(free_port)
native_port=$(free_port)

# Under the machine's own locale (C.UTF-8 on this kind of machine, as on many minimal
# systems) the whole scenario; then once more under plain C, where WebKitGTK reports the
# language "C" that Intl rejects: the window must still render. No locale is forced.
# A secret in the app's environment, as a user may set it: it must reach neither the
# browser nor WebKit's helper processes (drive.py reads their environments).
e2e_key="cb-app-e2e-explicit-key-$(date +%s%N)"
run_app() {
  local locale_env=() drive_args=$2
  [ -n "$1" ] && locale_env=("LANG=$1")
  env -i PATH="$PATH" "${locale_env[@]}" DRIVE_ARGS="$drive_args" \
  HOME="$work/home" XDG_RUNTIME_DIR="$work/home" \
  CURSOR_BRIDGE_HOME="$work/cb" CURSOR_BRIDGE_PORT="$port" \
  CURSOR_BRIDGE_API_URL="$fake_url" CURSOR_BRIDGE_LOGIN_URL="$fake_url" \
  CURSOR_BRIDGE_API_KEY="$e2e_key" \
  BROWSER="$root/tests/app-e2e/approve-browser" \
  APP="$app" FAKE_URL="$fake_url" NOTIFY_LOG="$work/notify.log" WORK="$work" ROOT="$root" \
  WD_PORT="$wd_port" NATIVE_PORT="$native_port" WEBDRIVER="http://127.0.0.1:$wd_port" \
  TMPDIR="$work/tmp" RUST_LOG="${RUST_LOG:-info}" \
  xvfb-run -a dbus-run-session -- bash tests/app-e2e/session.sh || {
    echo "app-e2e: FAILED (LANG=${1:-unset}); tauri-driver/app log:" >&2
    tail -n 60 "$work/tauri-driver.log" >&2 || true
    exit 1
  }
}
echo "==> running the app under Xvfb (LANG=${LANG:-unset}, the machine's own)" >&2
run_app "${LANG:-}" ""
echo "==> the window under the plain C locale" >&2
run_app C --render-only
