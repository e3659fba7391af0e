#!/usr/bin/env bash
# Runs every test of the workspace (unit, fake-Cursor end-to-end, CLI, real keychain).
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Build output outside the clone is reused across fresh clones (CI clones anew each run).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cursor-bridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# No import circles between modules, in any crate or in ui/src (ARCHITECTURE.md, Layers).
python3 scripts/layers.py

cargo build --workspace --all-targets --locked

# The benchmark harness end to end in its quick mode (debug build, small samples, no
# verdicts): proves cb-bench, its baselines and the fake's knobs still work.
echo "==> cb-bench --quick" >&2
"$CARGO_TARGET_DIR/debug/cb-bench" --quick

# The keychain test needs a Secret Service: give it a private session bus and an
# unlocked gnome-keyring with a throw-away HOME, so the user's real keychain is untouched.
keyhome=$(mktemp -d)
trap 'rm -rf "$keyhome"' EXIT
HOME_ORIG="$HOME"
env HOME="$keyhome" CARGO_HOME="${CARGO_HOME:-$HOME_ORIG/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME_ORIG/.rustup}" \
  CURSOR_BRIDGE_TEST_KEYCHAIN=1 \
  dbus-run-session -- bash -c '
    printf "ci" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
    exec cargo test --workspace --locked "$@"
  ' bash "$@"

# The official openai Python SDK against the real `serve` binary and a fake Cursor process.
venv="${CURSOR_BRIDGE_PYVENV:-$HOME/.cache/cursor-bridge/pyvenv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
echo "==> openai Python SDK" >&2
(cd tests/python && CB_BIN="$CARGO_TARGET_DIR/debug/cursor-bridge" \
  FAKE_BIN="$CARGO_TARGET_DIR/debug/fake-cursor" \
  timeout 300 "$venv/bin/python" -m unittest -v test_openai_sdk test_openai_responses)
echo "==> anthropic Python SDK" >&2
(cd tests/python && CB_BIN="$CARGO_TARGET_DIR/debug/cursor-bridge" \
  FAKE_BIN="$CARGO_TARGET_DIR/debug/fake-cursor" \
  timeout 300 "$venv/bin/python" -m unittest -v test_anthropic_sdk)

# Real OpenCode through the real proxy: its bash tool runs and the answer continues the
# same Cursor stream; for a GPT model Cursor's writes go through OpenCode's apply_patch;
# a runaway loop is stopped by the guard and OpenCode shows why, without retrying.
echo "==> OpenCode end to end" >&2
bash tests/opencode/run.sh
bash tests/opencode/run.sh apply-patch
bash tests/opencode/run.sh loop

# Real Claude Code (`claude -p`) through the real proxy: a plain answer, and its Bash tool
# whose result continues the same Cursor run.
echo "==> Claude Code end to end" >&2
timeout 600 bash tests/claude/run.sh

# Real Claude Code and Codex CLI read the configs `cursor-bridge connect` writes and send
# the local key from `cursor-bridge key`; disconnect restores both files.
echo "==> connect: Claude Code and Codex configs" >&2
timeout 300 bash tests/connect/run.sh

# Real Codex CLI over the Responses API: a plain answer, and an exec_command round trip
# whose output continues the same Cursor run (asserted in the fake's record), called
# directly and, for a model name Codex recognises, from its custom `exec` tool.
echo "==> Codex end to end" >&2
timeout 300 bash tests/codex/run.sh plain
timeout 300 bash tests/codex/run.sh tool
timeout 300 bash tests/codex/run.sh exec

# The web UI: typecheck, Vitest, build, Playwright in Debian's Chromium.
bash scripts/ui-test.sh

# The tray app for real (after the UI build above, which it embeds): under Xvfb over
# WebDriver and D-Bus — sign-in, proxy, tray menu and icon, notifications, autostart.
echo "==> tray app end to end" >&2
bash scripts/app-e2e.sh

# Coverage-guided fuzzing of the frame decoder and the request parser (libFuzzer + ASan),
# bounded: 60 s per target; any crash fails the run with its reproducer.
echo "==> fuzzing" >&2
bash scripts/fuzz.sh "${CURSOR_BRIDGE_FUZZ_SECONDS:-60}"

# The Linux packages as a user installs them: the .deb built (release), inspected, installed
# on this machine with apt, its CLI and app used (serve for one chat, the window under
# Xvfb, launch at login pointing at /usr/bin), then removed leaving nothing in /usr.
echo "==> Linux packages: build, install, use, remove" >&2
timeout 2400 bash scripts/package-test.sh
