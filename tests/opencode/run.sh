#!/usr/bin/env bash
# Real OpenCode (npm `opencode-ai`) through the real `cursor-bridge serve` against the fake
# Cursor (`fake-cursor opencode`): OpenCode's config is written by `opencode-config
# --write`, the model calls OpenCode's `bash` tool once, OpenCode runs it and sends the
# result back, and the answer arrives. Then a second user turn of the same session
# (`opencode run --continue`) with a tool step of its own: the fake's record must show
# that it continued from the checkpoint the fake issued for turn one (reference §9.5).
# With `apply-patch`, a GPT model (for which OpenCode declares `apply_patch` instead of
# `write`/`edit`) gets two native Cursor writes, a new file and one over an existing
# file: OpenCode must apply the patches we make of them (the files on disk are checked)
# and Cursor must get typed write successes back.
# With `loop`, a runaway model asks for the same `bash` command after every result, forever
# (`fake-cursor opencode-loop`): the guard must stop it at exactly guard_repeat_limit, and
# OpenCode must show our message and stop, without retrying.
# Everything in a throw-away HOME.
# Usage: tests/opencode/run.sh [bash|apply-patch|loop]   (needs CARGO_TARGET_DIR's debug
# binaries built; default: bash)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/fake.sh"
case="${1:-bash}"
case "$case" in
  bash) scenario=opencode-two-turns model=auto prompt="print a marker with bash" ;;
  apply-patch) scenario=opencode-patch model=gpt-5.1 prompt="write the two files" ;;
  loop) scenario=opencode-loop model=auto prompt="print it until it works" ;;
  *) echo "usage: $0 [bash|apply-patch|loop]" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CARGO_TARGET_DIR:-$here/../../target}/debug"
# The OpenCode release this was verified with (a prebuilt binary from npm, nothing else
# downloaded at run time).
version="${OPENCODE_VERSION:-1.18.33}"
cache="${CURSOR_BRIDGE_OPENCODE_DIR:-$HOME/.cache/cursor-bridge/opencode-$version}"
npm_install "$cache" "opencode-ai@$version" opencode
work="$(mktemp -d)"
cleanup() { kill "${serve_pid:-}" "${fake_pid:-}" 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home/.config" "$work/tmp" "$work/project"

start_fake "$bin/fake-cursor" "$work" "$scenario"
start_serve "$bin" "$work" cb-opencode-e2e

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
export XDG_STATE_HOME="$work/home/.local/state" XDG_CACHE_HOME="$work/home/.cache" TMPDIR="$work/tmp"
export OPENCODE_DISABLE_MODELS_FETCH=1
"$bin/cursor-bridge" opencode-config --write --port "$port"
cd "$work/project"
[ "$case" = apply-patch ] && printf 'old content\nmore old content\n' > existing.txt
status=0
timeout 180 "$cache/node_modules/.bin/opencode" run --format json -m "cursor-bridge/$model" \
  "$prompt" < /dev/null > "$work/opencode.jsonl" 2> "$work/opencode.err" 9>&- || status=$?
# The loop ends in an error OpenCode reports (its exit status says so); a timeout (124)
# means it hung or retried forever.
if [ "$status" -ne 0 ] && { [ "$case" != loop ] || [ "$status" -eq 124 ]; }; then
  echo "opencode failed ($status):" >&2; tail -20 "$work/opencode.err" >&2; tail -20 "$work/serve.log" >&2; exit 1
fi

if [ "$case" = loop ]; then
  # Closing the fake's stdin makes it print what it saw, then exit; the proxy's ledger is
  # read once it has stopped.
  exec 9>&-
  wait "$fake_pid" || true
  fake_pid=
  kill "$serve_pid"; wait "$serve_pid" || true
  serve_pid=
  python3 - "$work/opencode.jsonl" "$fake_out" "$work/cb/ledger.sqlite3" <<'PY'
import json, re, sqlite3, sys
limit = 5  # guard_repeat_limit's default
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tools = [e["part"] for e in events if e.get("type") == "tool_use"]
# OpenCode ran the command limit - 1 times, each to completion, then got our message;
# each call under an id the proxy minted (never Cursor's `call_oc_loop_<n>`), all distinct.
ids = [t["callID"] for t in tools]
assert len(ids) == limit - 1 and len(set(ids)) == len(ids), tools
assert all(re.fullmatch(r"call_[0-9a-f]{32}", i) for i in ids), ids
assert all(t["tool"] == "bash" and t["state"]["output"] == "LOOP_AGAIN\n" for t in tools), tools
errors = [e for e in events if e.get("type") == "error"]
assert len(errors) == 1 and events[-1] is errors[0], events[-3:]
shown = json.dumps(errors[0]["error"])
for part in ["guard stopped this agent", f"same arguments {limit} times in a row",
             f"guard_repeat_limit = {limit}", "cursor-bridge guard resume", "guard_tripped"]:
    assert part in shown, (part, shown)
# Cursor: one run for the loop, every result on it, cancelled when the guard tripped; and
# no run after it (OpenCode did not retry).
runs = json.loads(open(sys.argv[2]).read().splitlines()[-1])["runs"]
loops = [r for r in runs if r["mcp_results"]]
assert len(loops) == 1 and len(runs) == 2, runs
assert len(loops[0]["mcp_results"]) == limit - 1 and loops[0]["cancelled"], loops[0]
# … under Cursor's own ids, which the proxy mapped back from the minted ones.
assert [r[0] for r in loops[0]["mcp_results"]] == [f"call_oc_loop_{n}" for n in range(1, limit)], loops[0]
# The ledger: the title, the limit - 1 tool steps, then the one refusal, last.
rows = sqlite3.connect(sys.argv[3]).execute(
    "SELECT status, error_kind, tool_calls FROM requests ORDER BY id").fetchall()
assert len(rows) == limit + 1, rows
assert rows[-1] == (400, "guard_repeat_limit", 0), rows
assert sum(r[2] for r in rows) == limit - 1 and all(r[0] == 200 for r in rows[:-1]), rows
print(f"opencode e2e: the guard stopped OpenCode's loop after {len(tools)} bash runs with "
      f"{errors[0]['error']['name']}: guard_repeat_limit = {limit}; the Cursor run was cancelled "
      f"({loops[0]['cancelled']}), no retry ({len(rows)} requests in the ledger)")
PY
  exit 0
fi

if [ "$case" = apply-patch ]; then
  # Closing the fake's stdin makes it print what its execs got back, then exit.
  exec 9>&-
  wait "$fake_pid" || true
  python3 - "$work/opencode.jsonl" "$work/project" "$fake_out" <<'PY'
import json, os, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tools = [e["part"] for e in events if e.get("type") == "tool_use"]
texts = "".join(e["part"].get("text", "") for e in events if e.get("type") == "text")
assert [t["tool"] for t in tools] == ["apply_patch", "apply_patch"], tools
for t in tools:
    assert t["state"]["status"] == "completed", t["state"]
new = open(os.path.join(sys.argv[2], "notes/new.txt")).read()
assert new == "first line\n  second line\n", repr(new)
existing = open(os.path.join(sys.argv[2], "existing.txt")).read()
assert existing == "replaced\n", repr(existing)
assert "Both files are written." in texts, texts
execs = json.loads(open(sys.argv[3]).read().splitlines()[1])["execs"]
writes = [e["results"] for e in execs if e["kind"] == "write"]
assert len(writes) == 2 and all("WriteSuccess" in w for w in writes), writes
print("opencode e2e: apply_patch wrote a new file and replaced an existing one; "
      "Cursor got two typed write successes")
PY
  exit 0
fi

python3 - "$work/opencode.jsonl" "$work/serve.log" <<'PY'
import json, re, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tools = [e["part"] for e in events if e.get("type") == "tool_use"]
texts = "".join(e["part"].get("text", "") for e in events if e.get("type") == "text")
assert tools, f"OpenCode ran no tool: {events}"
out = tools[0]["state"].get("output", "")
assert tools[0]["tool"] == "bash" and "BRIDGE_TOOL_OK" in out, tools[0]
assert "The command ran through Cursor Bridge." in texts, texts
log = open(sys.argv[2]).read()
continued = re.findall(r"continued=true", log)
assert continued, "the tool result did not continue the parked Cursor stream"
print(f"opencode e2e: bash ran ({out.strip()!r}), the answer came back on the same Cursor stream")
PY

# Turn two of the same session.
timeout 180 "$cache/node_modules/.bin/opencode" run --continue --format json -m cursor-bridge/auto \
  "print another marker" < /dev/null 9>&- > "$work/opencode2.jsonl" 2> "$work/opencode2.err" || {
  echo "opencode (turn two) failed:" >&2; tail -20 "$work/opencode2.err" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
# Closing the fake's stdin makes it print what it saw, then exit.
exec 9>&-
wait "$fake_pid" || true
fake_pid=

python3 - "$work/opencode2.jsonl" "$fake_out" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tools = [e["part"] for e in events if e.get("type") == "tool_use"]
texts = "".join(e["part"].get("text", "") for e in events if e.get("type") == "text")
assert tools and "BRIDGE_TOOL_TWO" in tools[0]["state"].get("output", ""), events
assert "The second command ran too." in texts, texts
runs = json.loads(open(sys.argv[2]).read().splitlines()[-1])["runs"]
turn_two = [r for r in runs if (r["user_text"] or "").strip('"') == "print another marker"]
assert turn_two, f"no run for turn two: {runs}"
r = turn_two[0]
assert r["history"] == "checkpoint", f"turn two did not continue from the checkpoint: {runs}"
assert r["history_roles"][-2:] == ["tool", "assistant"], r
assert ["call_oc_2", "BRIDGE_TOOL_TWO"] == [r["mcp_results"][0][0], r["mcp_results"][0][1].strip()], r
# The prompt tokens OpenCode records for turn two are Cursor's count of that turn (the
# fake's TurnEnded: 410 input + 900 cache read + 40 cache write), not a guess: the tool
# step defers its prompt to the turn's count, the last step carries it. OpenCode keeps
# `input` = prompt − cached and `cache.read` = cached, summed over the turn's steps.
steps = [e["part"]["tokens"] for e in events if e.get("type") == "step_finish"]
prompt = sum(t["input"] + t["cache"]["read"] for t in steps)
assert prompt == 1350, f"turn two's prompt tokens in OpenCode are not Cursor's count: {steps}"
assert sum(t["cache"]["read"] for t in steps) == 900, steps
assert sum(t["output"] + t["reasoning"] for t in steps) == 6, steps
print(f"opencode e2e: turn two continued from Cursor's checkpoint ({len(r['history_roles'])} messages in it); "
      f"OpenCode recorded Cursor's exact count: {prompt} prompt tokens")
PY
