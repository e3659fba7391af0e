#!/usr/bin/env bash
# Tests the web UI (ui/): typecheck, Vitest, production build, then Playwright driving
# Debian's Chromium against the built UI with a fake backend. Idempotent; needs only the
# npm and Debian registries. Exits non-zero on the first failure.
# Usage: scripts/ui-test.sh [extra playwright args]
set -euo pipefail
cd "$(dirname "$0")/../ui"

# Playwright uses the system browser (playwright.config.ts): never download one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CI="${CI:-1}"

if [ ! -x "$CHROMIUM_PATH" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "ui-test: installing Debian's chromium" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

timings=()
step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "==> $name" >&2
  "$@"
  timings+=("$(printf '%-12s %4ss' "$name" $((SECONDS - t0)))")
}

step "npm ci" nice -n 10 npm ci --no-audit --no-fund --loglevel=error
step "typecheck" nice -n 10 npx tsc --noEmit -p .
step "vitest" nice -n 10 npx vitest run
step "build" nice -n 10 npx vite build
# A free port for `vite preview`, chosen by the OS, so parallel runs do not collide.
UI_TEST_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export UI_TEST_PORT
step "playwright" nice -n 10 npx playwright test "$@"

echo "ui-test: all passed" >&2
printf '  %s\n' "${timings[@]}" >&2
