#!/usr/bin/env bash
# The Linux packages as a user gets them: builds the .deb and .rpm (scripts/package.sh),
# inspects the .deb (control fields, dependencies, files, desktop entry), installs it into
# THIS system with `apt-get install ./….deb` (apt resolves its dependencies), runs the
# installed `cursor-bridge --version` and `cursor-bridge serve` for one chat against the
# fake Cursor, launches the installed app under Xvfb (its window renders; launch at login
# points at /usr/bin), then removes the package and checks nothing of it is left in /usr.
# The package is removed on failure too. Prints the package sizes and the app's cold start.
# Usage: scripts/package-test.sh     Needs: root or sudo, scripts/setup.sh; the release
#   build is ~16 min cold on 2 cores, then ~1 min; the test itself ~1 min.
set -euo pipefail
. "$(dirname "$0")/lib/fake.sh"
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cursor-bridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

built=$(bash scripts/package.sh deb rpm)
deb=$(grep '\.deb$' <<<"$built") || fail "no .deb built"
rpm=$(grep '\.rpm$' <<<"$built") || fail "no .rpm built"
command -v tauri-driver >/dev/null || nice -n 10 cargo install tauri-driver --locked
nice -n 10 cargo build --locked -p cursor-bridge-tests --bin fake-cursor
version=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json,sys; print({p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}["cursor-bridge-app"])')
commit=$(git rev-parse --short=10 HEAD)

new_work_dir
pkg=cursor-bridge
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
  fail "$pkg is already installed here; remove it first (apt-get purge $pkg)"
fi

echo "==> inspecting $deb" >&2
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = "$pkg" ] || fail "Package is $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version $(field Version), the workspace's is $version"
depends=$(field Depends)
echo "    Depends: $depends" >&2
case ",$depends," in *-dev[,\ ]*) fail "a -dev package among the dependencies: $depends" ;; esac
for d in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 libdbus-1-3; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
# The path is what follows the first five columns (it may hold a space).
dpkg-deb -c "$deb" | sed -E 's#^(\S+\s+){5}\.?/?#/#; s#/$##' >"$work/files"
# has_files LIST DOC_DIR: the files both packages hold are in LIST (one path a line),
# with the licence texts in DOC_DIR.
has_files() {
  local f expect=(/usr/bin/cursor-bridge-app /usr/bin/cursor-bridge
    "/usr/share/applications/Cursor Bridge.desktop" "$2/LICENSE-MIT" "$2/LICENSE-APACHE")
  for size in 16 24 32 48 64 128 256; do
    expect+=("/usr/share/icons/hicolor/${size}x${size}/apps/cursor-bridge-app.png")
  done
  for f in "${expect[@]}"; do
    grep -qxF -- "$f" "$1" || fail "$(basename "$1") lacks $f"
  done
}
has_files "$work/files" /usr/share/doc/cursor-bridge
grep -qxF /usr/share/doc/cursor-bridge/copyright "$work/files" || fail "the .deb has no copyright file"
mkdir "$work/deb"
dpkg-deb -x "$deb" "$work/deb"
desktop="$work/deb/usr/share/applications/Cursor Bridge.desktop"
desktop-file-validate "$desktop" || fail "the desktop entry is invalid"
grep -qx 'Exec=cursor-bridge-app' "$desktop" || fail "the desktop entry's Exec: $(grep ^Exec= "$desktop")"
grep -qx 'Categories=Development;' "$desktop" || fail "Categories: $(grep ^Categories= "$desktop")"
grep -q '^Keywords=.*proxy' "$desktop" || fail "no Keywords in the desktop entry"
wm_class=$(sed -n 's/^StartupWMClass=//p' "$desktop")
[ -n "$wm_class" ] || fail "no StartupWMClass in the desktop entry"
# Every shared library the two binaries load comes from a package the .deb depends on,
# directly or through their own dependencies (or from the C library every system has).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $(sed 's/([^)]*)//g; s/,/ /g; s/|/ /g' <<<"$depends") | grep -v '^ ' | sort -u)
for bin in "$work/deb/usr/bin/cursor-bridge-app" "$work/deb/usr/bin/cursor-bridge"; do
  ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
      owner=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$owner" ] || fail "$(basename "$bin") loads $lib, which no package owns"
    grep -qx "$owner" <<<"$closure" || fail "$(basename "$bin") loads $lib from $owner, not among its dependencies"
  done
done

ours() { find /usr \( -iname '*cursor-bridge*' -o -iname 'Cursor Bridge*' \) -print 2>/dev/null | sort; }
ours >"$work/ours-before"
# The .rpm (built from the same configuration; not installed here): name, version,
# files, and the same dependencies under Fedora's names.
echo "==> inspecting $rpm" >&2
[ "$(rpm -qp --qf '%{NAME} %{VERSION}' "$rpm")" = "$pkg $version" ] ||
  fail "the .rpm is $(rpm -qp --qf '%{NAME} %{VERSION}' "$rpm")"
rpm -qpl "$rpm" >"$work/rpm-files"
has_files "$work/rpm-files" /usr/share/licenses/cursor-bridge
requires=$(rpm -qp --requires "$rpm")
for d in 'libwebkit2gtk-4.1.so.0()(64bit)' 'libgtk-3.so.0()(64bit)' libayatana-appindicator-gtk3 dbus-libs; do
  grep -qxF "$d" <<<"$requires" || fail "the .rpm does not require $d: $requires"
done
rpm -qp --scripts "$rpm" | grep -q "Each user's own files were kept" || fail "the .rpm's removal message"

installed=""
remove_package() {
  [ -n "$installed" ] || return 0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get purge -y -qq "$pkg" >"$work/remove.log" 2>&1
}
trap 'remove_package; stop_fake_and_clean' EXIT
trap 'exit 143' TERM INT  # (through the EXIT trap: a timeout removes the package too)

echo "==> apt-get install ./$(basename "$deb")" >&2
cp "$deb" "$work/$pkg.deb"
installed=1
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$work/$pkg.deb" >"$work/install.log" 2>&1 ||
  { tail -20 "$work/install.log" >&2; fail "apt-get install"; }
dpkg-query -L "$pkg" >"$work/installed-files"

echo "==> the installed cursor-bridge" >&2
[ "$(command -v cursor-bridge)" = /usr/bin/cursor-bridge ] || fail "cursor-bridge is $(command -v cursor-bridge)"
got=$(cursor-bridge --version)
[ "$got" = "cursor-bridge $version ($commit)" ] || fail "cursor-bridge --version: $got"
start_fake "$CARGO_TARGET_DIR/debug/fake-cursor" "$work"
key="cb-package-test-$RANDOM$RANDOM"
mkdir -p "$work/cb"
start_serve /usr/bin "$work" "$key"
reply=$(curl -sS --max-time 30 "http://127.0.0.1:$port/v1/chat/completions" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"model":"auto","messages":[{"role":"user","content":"Hi"}]}')
grep -q 'Hello from the fake Cursor' <<<"$reply" || fail "chat through the installed serve: $reply"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
unset CURSOR_BRIDGE_HOME CURSOR_ACCESS_TOKEN CURSOR_BRIDGE_API_KEY

echo "==> the installed app under Xvfb" >&2
mkdir -p "$work/home/.config/autostart" "$work/tmp"
# Launch at login switched on from a build tree before the package was installed.
cat >"$work/home/.config/autostart/Cursor Bridge.desktop" <<EOF
[Desktop Entry]
Type=Application
Version=1.0
Name=Cursor Bridge
Comment=Cursor Bridgestartup script
Exec=$work/src/target/debug/cursor-bridge-app --hidden
StartupNotify=false
Terminal=false
EOF
wd_port=$(free_port)
# A user's account with nothing of ours but that login item (default settings, files under
# HOME); the proxy it may start goes to a free port, Cursor is the fake.
env -i PATH="$PATH" ${LANG:+LANG="$LANG"} DRIVE_ARGS=--installed \
  HOME="$work/home" XDG_RUNTIME_DIR="$work/home" TMPDIR="$work/tmp" \
  CURSOR_BRIDGE_PORT="$(free_port)" CURSOR_BRIDGE_API_URL="$CURSOR_BRIDGE_API_URL" \
  CURSOR_BRIDGE_LOGIN_URL="$CURSOR_BRIDGE_LOGIN_URL" \
  APP=/usr/bin/cursor-bridge-app STARTUP_WM_CLASS="$wm_class" COLD_START_FILE="$work/cold-start" \
  EXPECT_FOOTER="v$version ($commit)" \
  NOTIFY_LOG="$work/notify.log" WORK="$work" ROOT="$root" \
  WD_PORT="$wd_port" NATIVE_PORT="$(free_port)" WEBDRIVER="http://127.0.0.1:$wd_port" \
  xvfb-run -a dbus-run-session -- bash tests/app-e2e/session.sh || {
  tail -n 40 "$work/tauri-driver.log" >&2 || true
  fail "the installed app"
}

echo "==> apt-get purge $pkg" >&2
remove_package || { tail -20 "$work/remove.log" >&2; fail "apt-get purge"; }
installed=""
grep -q "Each user's own files were kept" "$work/remove.log" || fail "removal did not say what it kept"
left=$(grep '^/usr/' "$work/installed-files" | while read -r f; do
  [ -f "$f" ] || [ -L "$f" ] && echo "$f"; done || true)
[ -z "$left" ] || fail "left in /usr after removal: $left"
stray=$(ours | comm -13 "$work/ours-before" -)
[ -z "$stray" ] || fail "left in /usr after removal: $stray"

size() { du -k --apparent-size "$1" | cut -f1; }
echo "package-test: ok. .deb $(size "$deb") KiB, .rpm $(size "$rpm") KiB," \
  "installed $(dpkg-deb -f "$deb" Installed-Size) KiB; app cold start $(cat "$work/cold-start")s" >&2
