#!/usr/bin/env bash
# Builds and runs Cursor Bridge.
#   scripts/run.sh              the tray app (its window: sign in, models, usage, settings)
#   scripts/run.sh login|serve|status|models|usage|opencode-config …
#                               the headless CLI over the same core (servers, scripts)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -gt 0 ]; then
  exec cargo run --quiet --locked -p cursor-bridge-cli --bin cursor-bridge -- "$@"
fi
# The app embeds the built web UI (tauri.conf.json: frontendDist ui/dist).
(cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build >/dev/null)
exec cargo run --quiet --locked -p cursor-bridge-app --features tauri/custom-protocol
