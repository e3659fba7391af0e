#!/usr/bin/env bash
# Builds and runs Cursor Bridge's headless app. Usage: scripts/run.sh [command] [args]
#   scripts/run.sh login      sign in through your browser
#   scripts/run.sh            run the local proxy (same as `serve`)
# The tray app arrives in a later release; this runs the same core from the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ "$#" -gt 0 ] || set -- serve
exec cargo run --quiet --locked -p cursor-bridge-core --bin cursor-bridge -- "$@"
