#!/usr/bin/env python3
"""The real tray app end to end, driven over WebDriver (tauri-driver + WebKitWebDriver).

Started by scripts/app-e2e.sh inside `xvfb-run dbus-run-session` with an isolated HOME,
CURSOR_BRIDGE_HOME and a fake Cursor server; stdlib only. The checks go through the
window's real IPC (`__TAURI_INTERNALS__.invoke`, what ui/src/ipc.ts calls) and through the
UI itself, the tray (its menu and icon read and clicked over D-Bus as a panel would),
then outside the app: an OpenAI request through the proxy it started, the
autostart file the OS switch writes, the one notification a port clash raises, and a
second launch that hands over to the running instance.

Environment: APP (the binary), FAKE_URL, HOME, NOTIFY_LOG (dbus-monitor output),
WEBDRIVER (default http://127.0.0.1:4444). `--render-only`: only that the window renders;
`--installed`: the installed package's app (see `installed`).
"""
import glob
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

WD = os.environ.get("WEBDRIVER", "http://127.0.0.1:4444")
APP = os.environ["APP"]
HOME = os.environ["HOME"]
NOTIFY_LOG = os.environ.get("NOTIFY_LOG")


def step(msg):
    print(f"--> {msg}", file=sys.stderr, flush=True)


class WebDriverError(Exception):
    pass


def wd(method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(5):
        req = urllib.request.Request(WD + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"WebDriver {method} {path}: {e.code} {e.read().decode()[:500]}")
        except (http.client.RemoteDisconnected, ConnectionResetError) as e:
            # tauri-driver now and then reuses a connection to WebKitWebDriver that the
            # latter has closed ("client error (SendRequest) … Connection reset by peer")
            # and drops ours without an answer. The request never reached the window, so
            # sending it again is safe.
            print(f"    (tauri-driver dropped {method} {path}: {e}; retrying)", file=sys.stderr)
            time.sleep(0.2 * (attempt + 1))
    raise WebDriverError(f"WebDriver {method} {path}: dropped 5 times")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    def __init__(self):
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": APP}}}}
        self.id = wd("POST", "/session", caps, timeout=120)["sessionId"]

    def invoke(self, cmd, args=None):
        """`invoke(cmd, args)` in the app's window: {"ok": value} or {"err": rejection}."""
        script = """
            const [cmd, args, done] = arguments;
            window.__TAURI_INTERNALS__.invoke(cmd, args)
              .then(v => done({ok: v === undefined ? null : v}), e => done({err: e}));
        """
        return wd("POST", f"/session/{self.id}/execute/async",
                  {"script": script, "args": [cmd, args or {}]}, timeout=120)

    def ok(self, cmd, args=None):
        r = self.invoke(cmd, args)
        if "ok" not in r:
            raise SystemExit(f"{cmd} rejected: {r}")
        return r["ok"]

    def err(self, cmd, args=None):
        r = self.invoke(cmd, args)
        if "err" not in r:
            raise SystemExit(f"{cmd} should have been rejected: {r}")
        e = r["err"]
        assert set(e) == {"kind", "message"}, e
        return e

    def page_text(self):
        return wd("POST", f"/session/{self.id}/execute/sync",
                  {"script": "return document.body ? document.body.textContent : ''", "args": []})

    def close(self):
        wd("DELETE", f"/session/{self.id}")


# The tray icon as the desktop sees it: libayatana-appindicator exports a
# StatusNotifierItem and its menu (com.canonical.dbusmenu) on the session bus, even with no
# tray host running, so the test reads the menu and clicks it the way a panel does.
TRAY_PATH = "/org/ayatana/NotificationItem/tray_icon_tray_app_main"
# Left-edge pixel of each state's icon (icons/tray-*.png).
TRAY_COLOURS = {"srgba(31,157,85,1)": "running", "srgba(122,122,122,1)": "stopped",
                "srgba(201,162,39,1)": "signed-out", "srgba(208,52,44,1)": "error"}


def gdbus(*args):
    """(exit code, output); a peer that never answers (dbus-monitor is one) is a failure."""
    try:
        # A UTF-8 locale that always exists, or gdbus escapes "Sign in…" as \u2026.
        r = subprocess.run(["gdbus", "call", "--session", "--timeout", "3", *args],
                           capture_output=True, text=True, timeout=10,
                           env={**os.environ, "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        return 1, ""
    return r.returncode, r.stdout


class Tray:
    def __init__(self):
        _, names = gdbus("--dest", "org.freedesktop.DBus", "--object-path", "/",
                         "--method", "org.freedesktop.DBus.ListNames")
        for name in re.findall(r"'(:[0-9.]+)'", names):
            if self._layout(name)[0] == 0:
                self.dest = name
                return
        raise SystemExit("no tray icon (StatusNotifierItem) on the session bus")

    def _layout(self, dest):
        return gdbus("--dest", dest, "--object-path", TRAY_PATH + "/Menu",
                     "--method", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "[]")

    def items(self):
        """label -> {id, enabled, checked}"""
        _, out = self._layout(self.dest)
        items = {}
        # Every item, submenus and their children included (a label holds no braces).
        for m in re.finditer(r"<\((\d+), \{([^{}]*)\}", out):
            props = m.group(2)
            label = re.search(r"'label': <'(.*?)'>", props)
            toggle = re.search(r"'toggle-state': <(-?\d+)>", props)
            if label:
                items[label.group(1)] = {"id": int(m.group(1)),
                                         "enabled": "'enabled': <false>" not in props,
                                         "checked": toggle and toggle.group(1) == "1"}
        return items

    def click(self, label):
        item = self.items()[label]
        rc, out = gdbus("--dest", self.dest, "--object-path", TRAY_PATH + "/Menu",
                        "--method", "com.canonical.dbusmenu.Event",
                        "--", str(item["id"]), "clicked", "<int32 0>", "0")
        assert rc == 0, out

    def state(self):
        """Which of the four icons is shown, from the icon file's pixels."""
        _, out = gdbus("--dest", self.dest, "--object-path", TRAY_PATH,
                       "--method", "org.freedesktop.DBus.Properties.Get",
                       "org.kde.StatusNotifierItem", "IconName")
        path = re.search(r"'(.*?)'", out).group(1)
        px = subprocess.run(["/usr/bin/convert", path, "-format", "%[pixel:p{2,16}]", "info:"],
                            capture_output=True, text=True).stdout.strip()
        return TRAY_COLOURS.get(px, px)


def wait_for(what, pred, timeout=20):
    """Polls `pred`; a WebDriver error while the page is still loading counts as "not yet"."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except WebDriverError as e:
            last = e
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what} (last WebDriver error: {last})")


def notify_count():
    """Notify calls seen on the session bus so far."""
    return open(NOTIFY_LOG).read().count("member=Notify") if NOTIFY_LOG else 0


def port_open(port):
    with socket.socket() as c:
        c.settimeout(1)
        return c.connect_ex(("127.0.0.1", port)) == 0


def chat(base_url, key):
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}).encode()
    req = urllib.request.Request(base_url + "/chat/completions", data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def wait_rendered(s):
    wait_for("the UI to render", lambda: "Cursor Bridge" in s.page_text() and "Account" in s.page_text())


def render_only():
    """The window renders under whatever locale this process was given (LANG=C: WebKitGTK
    then reports the language "C", which Intl rejects)."""
    t0 = time.time()
    step(f"the window renders under LANG={os.environ.get('LANG', '(unset)')!r}")
    s = Session()
    wait_rendered(s)
    lang = wd("POST", f"/session/{s.id}/execute/sync",
              {"script": "return [navigator.language, new Intl.NumberFormat(navigator.language).format(1234.5)]",
               "args": []})
    step(f"navigator.language is {lang[0]!r}, Intl formats 1234.5 as {lang[1]!r}")
    s.close()
    print(f"app-e2e (render): ok in {time.time() - t0:.1f}s", file=sys.stderr)


def processes():
    """(pid, argv, environment) of every process of this run (its WORK in the environment)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split("=", 1) for kv in f.read().decode(errors="replace").split("\0") if "=" in kv)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        found.append((pid, argv, env))
    return found


def check_hardening():
    """The app took CURSOR_BRIDGE_API_KEY out of its environment at start (main re-execs
    the binary without it), so neither its own /proc environ nor what it starts has it;
    its core limit is 0."""
    key = os.environ["CURSOR_BRIDGE_API_KEY"]  # the session's, as the app got it
    with open(os.path.join(os.environ["WORK"], "browser-env")) as f:
        seen = f.read()
    assert "CURSOR_BRIDGE_HOME=" in seen, "the browser got the environment"
    assert key not in seen and "CURSOR_BRIDGE_API_KEY" not in seen, "the key reached the browser"
    mine = [(pid, argv, env) for pid, argv, env in processes() if env.get("WORK") == os.environ["WORK"]]
    app = [(pid, env) for pid, argv, env in mine if argv[0] == APP]
    assert app, "the app's process"
    # It re-executed itself without the key (even the kernel's copy lacks it) and kept it.
    assert "CURSOR_BRIDGE_API_KEY" not in app[0][1], "the key in the app's /proc environ"
    # The web and network processes the app's web view starts (not WebKitWebDriver,
    # which started the app with the session's environment).
    helpers = [(pid, argv[0], env) for pid, argv, env in mine
               if os.path.basename(argv[0]) in ("WebKitWebProcess", "WebKitNetworkProcess")]
    assert helpers, f"WebKit's helper processes: {[a[0] for _, a, _ in mine]}"
    for pid, name, env in helpers:
        assert "CURSOR_BRIDGE_API_KEY" not in env, f"{name} (pid {pid}) has the key"
    with open(f"/proc/{app[0][0]}/limits") as f:
        core = next(line for line in f if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core


def wm_classes(title):
    """The WM_CLASS strings (instance, class) of the X window titled `title`."""
    ids = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True).stdout
    for line in ids.splitlines():
        m = re.match(r'\s*(0x[0-9a-f]+) "(.*?)"', line)
        if m and m.group(2) == title:
            out = subprocess.run(["xprop", "-id", m.group(1), "WM_CLASS"],
                                 capture_output=True, text=True).stdout
            classes = re.findall(r'"(.*?)"', out)
            if classes:
                return classes
    return []


def installed():
    """The app of an installed package (APP=/usr/bin/…; scripts/package-test.sh): time from
    launch to the first rendered window (written to COLD_START_FILE), the window's WM_CLASS
    against the desktop entry's STARTUP_WM_CLASS, the version and commit in the footer, and
    launch at login starting this installed binary: the entry a build tree's copy left in
    HOME (planted by the script) rewritten at launch, and one switched on here."""
    t0 = time.monotonic()
    step(f"launch {APP} until its window renders")
    s = Session()
    wait_rendered(s)
    cold = time.monotonic() - t0
    step(f"rendered {cold:.2f}s after launch")
    with open(os.environ["COLD_START_FILE"], "w") as f:
        f.write(f"{cold:.2f}\n")
    footer = wait_for("the footer's version", lambda: wd(
        "POST", f"/session/{s.id}/execute/sync",
        {"script": "const v = document.querySelector('[data-testid=version]'); return v && v.textContent",
         "args": []}))
    assert footer == os.environ["EXPECT_FOOTER"], (footer, os.environ["EXPECT_FOOTER"])

    step("the window's WM_CLASS matches the desktop entry's StartupWMClass")
    classes = wait_for("the window's WM_CLASS", lambda: wm_classes("Cursor Bridge"))
    assert os.environ["STARTUP_WM_CLASS"] in classes, (classes, os.environ["STARTUP_WM_CLASS"])

    pattern = os.path.join(HOME, ".config", "autostart", "*.desktop")

    def execs():
        files = glob.glob(pattern)
        assert len(files) == 1, files
        return [line for line in open(files[0]).read().splitlines() if line.startswith("Exec=")]

    step("the login item another copy left (a build tree's) now starts the installed binary")
    assert s.ok("get_status")["launchAtLogin"] is True
    assert execs() == [f"Exec={APP} --hidden"], execs()
    assert s.ok("set_launch_at_login", {"enabled": False}) is False
    assert glob.glob(pattern) == [], glob.glob(pattern)

    step("launch at login, switched on here, starts the installed binary")
    assert s.ok("set_launch_at_login", {"enabled": True}) is True
    assert execs() == [f"Exec={APP} --hidden"], execs()
    assert s.ok("set_launch_at_login", {"enabled": False}) is False
    assert glob.glob(pattern) == [], glob.glob(pattern)
    s.close()
    print(f"app-e2e (installed): ok in {time.monotonic() - t0:.1f}s", file=sys.stderr)


def main():
    if "--render-only" in sys.argv[1:]:
        return render_only()
    if "--installed" in sys.argv[1:]:
        return installed()
    t0 = time.time()
    step("session (starts the app)")
    s = Session()
    status = s.ok("get_status")
    assert status["signedIn"] is False, status
    step("UI is served from ui/dist")
    try:
        wait_for("the UI to render", lambda: len(s.page_text().strip()) > 0)
    except SystemExit:
        print("url:", wd("GET", f"/session/{s.id}/url"), file=sys.stderr)
        print("source:", wd("GET", f"/session/{s.id}/source")[:300], file=sys.stderr)
        probe = """const done = arguments[arguments.length - 1];
            const src = document.querySelector('script[type=module]').src;
            const errs = [];
            window.addEventListener('error', e => errs.push(String(e.message) + ' @' + e.filename + ':' + e.lineno));
            window.addEventListener('unhandledrejection', e => errs.push('rejection: ' + e.reason + ' ' + (e.reason && e.reason.stack)));
            import(src + '?again').then(() => setTimeout(() => done('imported; app children: ' + document.getElementById('app').childElementCount + ' errors: ' + JSON.stringify(errs)), 1500),
                             e => done('import failed: ' + e + ' ' + (e && e.stack)));"""
        print("probe:", wd("POST", f"/session/{s.id}/execute/async", {"script": probe, "args": []}), file=sys.stderr)
        raise
    step("the UI shows the proxy state")
    wait_for("'Proxy stopped' in the UI", lambda: "Proxy stopped" in s.page_text())

    step("the window's ACL refuses what the capability does not grant; the CSP holds")
    for cmd, args in [("read_file", {"path": "/etc/passwd"}), ("plugin:autostart|enable", {}),
                      ("plugin:window|close", {})]:
        r = s.invoke(cmd, args)
        assert "err" in r and "not allowed" in str(r["err"]), (cmd, r)
    # base-uri 'none': a <base> element the page adds does not move its base URL.
    bases = wd("POST", f"/session/{s.id}/execute/sync", {"script": """
        const before = document.baseURI;
        const b = document.createElement('base');
        b.href = 'https://example.com/';
        document.head.append(b);
        const after = document.baseURI;
        b.remove();
        return [before, after];""", "args": []})
    assert bases[0] == bases[1], f"a <base> element moved the base URL: {bases}"

    step("sign in (the $BROWSER stand-in approves on the fake)")
    status = s.ok("sign_in")
    assert status["signedIn"] is True and status["account"]["email"] == "dev@example.com", status

    step("no secret in the browser's or WebKit's environment; no core dumps")
    check_hardening()
    assert s.ok("get_api_key") == os.environ["CURSOR_BRIDGE_API_KEY"], "the explicit key is in use"

    step("start the proxy, chat through it")
    status = s.ok("start_proxy")
    assert status["proxy"]["state"] == "running", status
    key = s.ok("get_api_key")
    reply = chat(status["proxy"]["baseUrl"], key)
    text = reply["choices"][0]["message"]["content"]
    assert "Hello from the fake Cursor" in text, reply
    models = s.ok("list_models", {"refresh": False})
    assert models and all(m["contextLimit"] > 0 for m in models), models

    step("the tray shows the same status and drives the same actions")
    tray = Tray()
    port = status["proxy"]["port"]
    wait_for("the tray to show the running proxy", lambda: tray.state() == "running"
             and f"Running on 127.0.0.1:{port}" in tray.items())
    items = tray.items()
    assert "Sign out (dev@example.com)" in items and "Stop proxy" in items, list(items)
    assert items[f"Running on 127.0.0.1:{port}"]["enabled"] is False, "the status line is information"
    tray.click("Stop proxy")
    wait_for("the proxy to stop from the tray", lambda: s.ok("get_status")["proxy"]["state"] == "stopped")
    wait_for("the tray to follow", lambda: tray.state() == "stopped" and "Start proxy" in tray.items())
    tray.click("Start proxy")
    wait_for("the proxy to start from the tray", lambda: s.ok("get_status")["proxy"]["state"] == "running")
    wait_for("the tray to follow", lambda: tray.state() == "running")

    step("a port clash is {kind, message} and one notification, however often it is tried")
    notified_before = notify_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = s.ok("get_settings")
        clash = dict(settings, port=port)
        running_on = s.ok("get_status")["proxy"]["port"]
        e = s.err("update_settings", {"settings": clash})
        assert e["kind"] == "port_in_use", e
        # The running proxy keeps serving on the port it holds rather than letting it go.
        status = s.ok("get_status")
        assert status["proxy"]["state"] == "running" and status["proxy"]["port"] == running_on, status
        s.ok("stop_proxy")
        e = s.err("start_proxy")
        assert e["kind"] == "port_in_use", e
        status = s.ok("get_status")
        assert status["proxy"]["state"] == "error", status
        wait_for("the error icon", lambda: tray.state() == "error")
        tray.click("Start proxy")  # the user tries again from the tray
        time.sleep(1)
    if NOTIFY_LOG:
        wait_for("the Notify call", lambda: f"Port {port} is already in use" in open(NOTIFY_LOG).read())
        time.sleep(0.5)
        count = notify_count() - notified_before
        assert count == 1, f"{count} notifications for one port clash tried three times"
    good = dict(settings, port=free_port())
    assert s.ok("update_settings", {"settings": good}) == good
    assert s.ok("start_proxy")["proxy"]["state"] == "running"

    step("launch at login: the OS file appears and disappears")
    pattern = os.path.join(HOME, ".config", "autostart", "*.desktop")
    assert s.ok("set_launch_at_login", {"enabled": True}) is True
    files = glob.glob(pattern)
    assert len(files) == 1 and "--hidden" in open(files[0]).read(), files
    assert s.ok("get_status")["launchAtLogin"] is True
    wait_for("the tray's check mark", lambda: tray.items()["Launch at login"]["checked"])
    assert s.ok("set_launch_at_login", {"enabled": False}) is False
    assert glob.glob(pattern) == [], glob.glob(pattern)
    wait_for("the check mark to clear", lambda: not tray.items()["Launch at login"]["checked"])
    tray.click("Launch at login")
    wait_for("the tray to turn launch at login on", lambda: glob.glob(pattern))
    wait_for("the check mark read back", lambda: tray.items()["Launch at login"]["checked"])
    tray.click("Launch at login")
    wait_for("the tray to turn it off again", lambda: not glob.glob(pattern))

    step("a second launch hands over to the first and exits")
    second = subprocess.run([APP], timeout=30, capture_output=True)
    assert second.returncode == 0, (second.returncode, second.stderr.decode()[-2000:])
    assert s.ok("get_status")["proxy"]["state"] == "running", "the first instance lives on"

    step("Pause all from the tray refuses requests with a 403 until Resume from the tray")
    base = s.ok("get_status")["proxy"]["baseUrl"]
    key = s.ok("get_api_key")
    tray.click("Pause all")
    wait_for("Paused by guard and Resume in the tray",
             lambda: "Paused by guard" in tray.items() and "Resume" in tray.items())
    assert s.ok("get_status")["guard"]["paused"] is True
    try:
        chat(base, key)
        raise AssertionError("a paused proxy served a chat")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code
        assert json.load(e)["error"]["code"] == "guard_paused"
    tray.click("Resume")
    wait_for("Pause all back in the tray", lambda: "Pause all" in tray.items())
    assert chat(base, key)["choices"], "served again after Resume"

    step("stop, sign out")
    assert s.ok("stop_proxy")["proxy"]["state"] == "stopped"
    assert s.ok("sign_out")["signedIn"] is False
    wait_for("the signed-out icon and Sign in…", lambda: tray.state() == "signed-out"
             and "Sign in…" in tray.items())

    step("sign in and copy the OpenCode setup from the tray's Copy setup for… menu")
    tray.click("Sign in…")
    wait_for("the tray's sign-in", lambda: s.ok("get_status")["signedIn"], timeout=30)
    wait_for("Sign out (email) in the tray", lambda: "Sign out (dev@example.com)" in tray.items())
    assert "Copy setup for…" in tray.items(), tray.items()
    tray.click("OpenCode")
    if NOTIFY_LOG:
        wait_for("the copied notification", lambda: "OpenCode setup copied" in open(NOTIFY_LOG).read())

    step("Quit from the tray releases the port; the next launch restores the proxy")
    settings = s.ok("get_settings")
    s.ok("update_settings", {"settings": dict(settings, startProxyOnLaunch=True)})
    port = s.ok("start_proxy")["proxy"]["port"]
    tray.click("Quit")
    wait_for("the port to be released", lambda: not port_open(port))
    try:
        s.close()
    except WebDriverError:
        pass  # the app is gone, which is the point
    s = Session()
    wait_for("the proxy restored at launch", lambda: s.ok("get_status")["proxy"]["state"] == "running")
    status = s.ok("get_status")
    assert status["signedIn"] is True, "the session survived the restart"
    # (On CURSOR_BRIDGE_PORT, which overrides the port saved from the UI.)
    with urllib.request.urlopen(status["proxy"]["baseUrl"].removesuffix("/v1") + "/health", timeout=10) as r:
        assert r.status == 200
    s.close()
    print(f"app-e2e: ok in {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
