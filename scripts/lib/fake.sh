# Sourced by the scripts that drive a real client against the fake Cursor.
#
# start_fake BIN WORK [ARGS…]: starts the fake (BIN, with its scenario ARGS) fed by a FIFO
# whose only writer is the sourcing shell (fd 9). The fake serves until its stdin closes
# and then prints its summary, so it ends with the script however the script ends; a
# child that must not keep it alive is started with `9>&-`. Sets fake_pid and fake_out
# (its stdout: the first line is JSON with `url` and `access_token`).
# fake_field NAME: a field of that first line.
# start_serve BIN WORK KEY: the real `cursor-bridge serve` (BIN is the debug dir) on a free
# port in front of the started fake, signed in with its token, with WORK/cb as its home and
# KEY as the local key (exported: later commands of the script see the same settings);
# logs in WORK/serve.log. Sets serve_pid and port.
# npm_install DIR PACKAGE@VERSION BIN: installs the pinned client into DIR once (again
# only when DIR/node_modules/.bin/BIN is missing).
# free_port: a port free on 127.0.0.1 now.
# new_work_dir: a fresh directory in $work, removed (and the fake stopped) when the
# script exits.
start_fake() {
  local bin=$1 work=$2
  shift 2
  mkfifo "$work/fake.in"
  "$bin" "$@" <"$work/fake.in" >"$work/fake.out" &
  fake_pid=$!
  fake_out="$work/fake.out"
  exec 9>"$work/fake.in"
  for _ in $(seq 100); do [ -s "$fake_out" ] && break; sleep 0.1; done
  [ -s "$fake_out" ] || { echo "the fake Cursor did not start" >&2; return 1; }
}

start_serve() {
  local bin=$1 work=$2 key=$3 url
  url=$(fake_field url)
  port=$(free_port)
  export CURSOR_BRIDGE_HOME="$work/cb" CURSOR_BRIDGE_API_URL="$url" CURSOR_BRIDGE_LOGIN_URL="$url"
  export CURSOR_ACCESS_TOKEN="$(fake_field access_token)" CURSOR_BRIDGE_API_KEY="$key"
  # `9>&-`: only the script may hold the fake's stdin open (the fake reports on EOF).
  RUST_LOG=info "$bin/cursor-bridge" serve --port "$port" > "$work/serve.out" 2> "$work/serve.log" 9>&- &
  serve_pid=$!
  for _ in $(seq 50); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

npm_install() {
  local dir=$1 pkg=$2 bin=$3
  if [ ! -x "$dir/node_modules/.bin/$bin" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm i --no-audit --no-fund --loglevel=error "$pkg" >/dev/null)
  fi
}

fake_field() {
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$fake_out" "$1"
}

new_work_dir() {
  work=$(mktemp -d)
  fake_pid=""
  trap stop_fake_and_clean EXIT
}

stop_fake_and_clean() {
  [ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
