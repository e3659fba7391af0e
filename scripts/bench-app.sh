#!/usr/bin/env bash
# Memory of the real tray app with its window closed: the app runs under Xvfb with a
# private session bus, an isolated HOME and a fake Cursor (signed in, proxy started at
# launch, as a user leaves it). Two ways to be "closed": shown and then closed (the close
# button hides the window; WM_DELETE_WINDOW is what a window manager sends), and started
# with --hidden (what launch at login does). Prints markdown rows: the app's own RSS, and
# RSS and PSS summed over its process tree (WebKit's web and network processes).
# Usage: scripts/bench-app.sh     (CB_APP=path/to/cursor-bridge-app to skip the build;
#        CB_APP_ENV="GDK_GL=disable" to start the app with extra environment variables)
# Needs: scripts/setup.sh (xvfb, dbus, webkit), npm for the UI build.
set -euo pipefail
. "$(dirname "$0")/lib/fake.sh"
. "$(dirname "$0")/lib/ui.sh"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cursor-bridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [ -z "${CB_APP:-}" ]; then
  bash scripts/setup.sh
  build_ui
  echo "==> building the release app (custom-protocol: serves ui/dist) and the fake Cursor" >&2
  nice -n 10 cargo build --release --locked -p cursor-bridge-app --features tauri/custom-protocol
  nice -n 10 cargo build --release --locked -p cursor-bridge-tests --bin fake-cursor
  CB_APP="$CARGO_TARGET_DIR/release/cursor-bridge-app"
fi
fake="${CB_FAKE:-$(dirname "$CB_APP")/fake-cursor}"
settle="${CB_SETTLE_SECS:-10}"

new_work_dir
[ -n "${CB_DEBUG:-}" ] && set -x

start_fake "$fake" "$work"
fake_url=$(fake_field url)
token=$(fake_field access_token)

# Inside the X session: start the app, find its window, optionally close it, let it
# settle, then sum memory over the app's process tree.
cat >"$work/measure.py" <<'PY'
import ctypes, ctypes.util, os, re, subprocess, sys, time

app, mode, settle = sys.argv[1], sys.argv[2], float(sys.argv[3])

def windows():
    """Top-level windows titled like the app's: (id, viewable)."""
    out = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True).stdout
    ids = re.findall(r'^\s+(0x[0-9a-f]+) "Cursor Bridge"', out, re.M)
    res = []
    for w in ids:
        info = subprocess.run(["xwininfo", "-id", w], capture_output=True, text=True).stdout
        res.append((int(w, 16), "IsViewable" in info))
    return res

def close(wid):
    """Sends WM_DELETE_WINDOW, as a window manager's close button does."""
    x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]
    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                             ctypes.POINTER(XEvent)]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    d = x.XOpenDisplay(None)
    if not d:
        sys.exit("cannot open the X display")
    ev = XEvent()
    ev.xclient.type = 33  # ClientMessage
    ev.xclient.window = wid
    ev.xclient.message_type = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
    ev.xclient.format = 32
    ev.xclient.data[0] = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
    x.XSendEvent(d, wid, 0, 0, ctypes.byref(ev))
    x.XFlush(d)
    x.XCloseDisplay(d)

def tree(root):
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def field(path, name):
    try:
        for line in open(path):
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

def comm(p):
    try:
        return open(f"/proc/{p}/comm").read().strip()
    except OSError:
        return "?"

args = [app] + (["--hidden"] if mode == "hidden" else [])
extra = dict(kv.split("=", 1) for kv in os.environ.get("CB_APP_ENV", "").split())
proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.environ["APP_LOG"], "w"),
                        env=dict(os.environ, **extra))
try:
    if mode == "closed":
        for _ in range(300):
            shown = [w for w, viewable in windows() if viewable]
            if shown:
                break
            if proc.poll() is not None:
                sys.exit(f"the app exited ({proc.returncode}); log: "
                         f"{open(os.environ['APP_LOG']).read()[-2000:]}")
            time.sleep(0.1)
        else:
            sys.exit("the app's window never appeared")
        time.sleep(3)  # the UI loads and renders
        for w in shown:
            close(w)
        for _ in range(50):
            if not any(v for _, v in windows()):
                break
            time.sleep(0.1)
        else:
            sys.exit("the window did not hide on WM_DELETE_WINDOW")
    time.sleep(settle)
    if proc.poll() is not None:
        sys.exit(f"the app exited ({proc.returncode}); log: {open(os.environ['APP_LOG']).read()[-2000:]}")
    pids = tree(proc.pid)
    own = field(f"/proc/{proc.pid}/status", "VmRSS")
    rss = sum(field(f"/proc/{p}/status", "VmRSS") for p in pids)
    pss = sum(field(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    names = sorted(comm(p) for p in pids if p != proc.pid)
    # The proxy the app started must be serving, signed in through the fake (checked
    # after sampling, so the check adds nothing to the figures).
    import json, urllib.request
    key = open(os.path.join(os.environ["CURSOR_BRIDGE_HOME"], "local-api-key")).read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{os.environ['CURSOR_BRIDGE_PORT']}/health",
                                 headers={"Authorization": f"Bearer {key}"})
    health = json.load(urllib.request.urlopen(req, timeout=5))
    if not health.get("signed_in"):
        sys.exit(f"the app's proxy is not signed in: {health}")
    label = {"closed": "shown, then closed", "hidden": "started with --hidden"}[mode]
    if extra:
        label += " (" + " ".join(f"{k}={v}" for k, v in extra.items()) + ")"
    mb = lambda b: f"{b / 1e6:.1f} MB"
    # Judged on the summed RSS (it counts shared libraries once per process, so it is
    # the pessimistic figure); PSS splits shared pages fairly.
    verdict = "pass" if rss <= 80e6 else "**MISS**"
    row = (f"| tray app, window {label} ({settle:.0f} s later; proxy running) "
          f"| app process alone: {mb(own)} RSS "
          f"| {mb(rss)} RSS / {mb(pss)} PSS, {len(pids)} processes ({', '.join(names) or 'none'}) "
          f"| – | ≤ 80 MB | {verdict} |")
    with open(os.environ["ROWS"], "a") as f:
        f.write(row + "\n")
finally:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
PY

echo "| metric | baseline | through the proxy | difference / ratio | target | result |"
echo "|---|---|---|---|---|---|"
for mode in closed hidden; do
  rm -rf "$work/home" "$work/cb" "$work/tmp"
  mkdir -p "$work/home" "$work/cb" "$work/tmp"
  printf 'credential_store = "file"\nstart_proxy_on_launch = true\n' >"$work/cb/settings.toml"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # The machine's own locale, as a user's launch would have it (the UI copes with "C").
  env -i PATH="$PATH" ${LANG:+LANG="$LANG"} HOME="$work/home" XDG_RUNTIME_DIR="$work/home" \
    TMPDIR="$work/tmp" CURSOR_BRIDGE_HOME="$work/cb" CURSOR_BRIDGE_PORT="$port" \
    CURSOR_BRIDGE_API_URL="$fake_url" CURSOR_BRIDGE_LOGIN_URL="$fake_url" \
    CURSOR_ACCESS_TOKEN="$token" APP_LOG="$work/app-$mode.log" CB_APP_ENV="${CB_APP_ENV:-}" \
    ROWS="$work/rows.md" \
    xvfb-run -a dbus-run-session -- python3 "$work/measure.py" "$CB_APP" "$mode" "$settle" \
    >"$work/session-$mode.log" 2>&1 || {
      echo "bench-app: the $mode run failed:" >&2
      grep -v -e dbus-daemon -e SpiRegistry "$work/session-$mode.log" >&2 || true
      exit 1
    }
done
cat "$work/rows.md"
