# Sourced by the scripts that drive a real client against the fake Cursor.
#
# start_fake BIN WORK [ARGS…]: starts the fake (BIN, with its scenario ARGS) fed by a FIFO
# whose only writer is the sourcing shell (fd 9). The fake serves until its stdin closes
# and then prints its summary, so it ends with the script however the script ends; a
# child that must not keep it alive is started with `9>&-`. Sets fake_pid and fake_out
# (its stdout: the first line is JSON with `url` and `access_token`).
# fake_field NAME: a field of that first line.
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

# npm_client DIR PACKAGE@VERSION BIN: installs a client from npm into DIR unless DIR
# already has its BIN (so a pinned client is fetched once and then runs offline).
npm_client() {
  local dir=$1 pkg=$2 bin=$3
  [ -x "$dir/node_modules/.bin/$bin" ] && return 0
  mkdir -p "$dir"
  (cd "$dir" && npm i --no-audit --no-fund --loglevel=error "$pkg" >/dev/null)
}
