# The inside of the real app's desktop session, run by scripts/app-e2e.sh and
# scripts/package-test.sh as `xvfb-run -a dbus-run-session -- bash tests/app-e2e/session.sh`:
# a notification daemon, a bus monitor that records Notify calls, tauri-driver; then
# drive.py with $DRIVE_ARGS. All of them end with the session (they would outlive it
# otherwise). Environment: NOTIFY_LOG, WD_PORT, NATIVE_PORT, WEBDRIVER, WORK, ROOT,
# DRIVE_ARGS, and what drive.py reads.
set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
dunst >/dev/null 2>&1 &
dbus-monitor "interface='org.freedesktop.Notifications',member='Notify'" >"$NOTIFY_LOG" 2>/dev/null &
tauri-driver --port "$WD_PORT" --native-port "$NATIVE_PORT" >"$WORK/tauri-driver.log" 2>&1 &
for _ in $(seq 100); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/status", timeout=1)' "$WEBDRIVER" 2>/dev/null && break
  sleep 0.1
done
timeout 180 python3 "$ROOT/tests/app-e2e/drive.py" $DRIVE_ARGS
