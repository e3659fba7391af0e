# Sourced by the scripts that need the built web UI (the app embeds ui/dist) or the Tauri
# CLI from ui/node_modules.
#
# build_ui: `npm ci` and `npm run build` in ui/ when ui/dist is missing or older than the
# UI's sources, or when ui/node_modules lacks a package of ui/package.json (the Tauri CLI
# came later than the rest). Run from the repository root.
build_ui() {
  local stale=""
  [ -f ui/dist/index.html ] || stale=1
  [ -z "$stale" ] && [ -n "$(find ui/src ui/index.html -newer ui/dist/index.html -print -quit)" ] && stale=1
  [ -f ui/node_modules/.package-lock.json ] && [ ! ui/package-lock.json -nt ui/node_modules/.package-lock.json ] || stale=1
  if [ -n "$stale" ]; then
    echo "==> building the UI" >&2
    (cd ui && nice -n 10 npm ci --no-audit --no-fund --loglevel=error && nice -n 10 npm run build >/dev/null)
  fi
}
