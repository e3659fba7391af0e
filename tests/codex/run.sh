#!/usr/bin/env bash
# Real Codex CLI (npm `@openai/codex`) through the real `cursor-bridge serve` against the
# fake Cursor, over the Responses API (`wire_api = "responses"`, the only one Codex 0.16x
# accepts). `plain` (default): `codex exec` gets a plain answer. `tool`: the model calls
# Codex's `exec_command` tool, Codex runs it and sends the output, and the answer arrives:
# the fake's record must show one run whose tool result came on its own stream (the
# response ended at the call, the run stayed parked, the next request continued it).
# `exec`: the same round trip for a model name Codex recognises (`gpt-6.1-sol`, which the
# fake's `codex-exec` catalogue offers): Codex then sends every tool in namespaces inside
# an `additional_tools` input item and its shell is the custom `exec` tool, whose input is
# JavaScript (here calling `tools.exec_command`).
# Codex runs in its own HOME under ~/.cache (its sandbox fails with HOME under /tmp),
# removed afterwards; for `plain` and `tool` the model is `auto`, a name Codex does not
# recognise, so it sends its tools in the `tools` array.
# Usage: tests/codex/run.sh [plain|tool|exec]   (needs CARGO_TARGET_DIR's debug binaries built)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/fake.sh"
case="${1:-plain}"
case "$case" in
  plain) scenario=codex model=auto prompt="say hello" ;;
  tool) scenario=codex-tool model=auto prompt="print a marker with exec_command" ;;
  exec) scenario=codex-exec model=gpt-6.1-sol prompt="print a marker with exec" ;;
  *) echo "usage: $0 [plain|tool|exec]" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CARGO_TARGET_DIR:-$here/../../target}/debug"
# The Codex release this was verified with (a native binary in a platform package from
# npm, nothing downloaded at run time).
version="${CODEX_VERSION:-0.169.0}"
cache="${CURSOR_BRIDGE_CODEX_DIR:-$HOME/.cache/cursor-bridge/codex-$version}"
npm_install "$cache" "@openai/codex@$version" codex
mkdir -p "$HOME/.cache/cursor-bridge"
work="$(mktemp -d "$HOME/.cache/cursor-bridge/codex-work-XXXXXX")"
cleanup() { kill "${serve_pid:-}" "${fake_pid:-}" 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home/.codex" "$work/tmp" "$work/project"

start_fake "$bin/fake-cursor" "$work" "$scenario"
start_serve "$bin" "$work" cb-codex-e2e

cat > "$work/home/.codex/config.toml" <<TOML
model = "$model"
model_provider = "cursor-bridge"

[model_providers.cursor-bridge]
name = "Cursor Bridge"
base_url = "http://127.0.0.1:$port/v1"
env_key = "CURSOR_BRIDGE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
TOML
export HOME="$work/home" CODEX_HOME="$work/home/.codex" TMPDIR="$work/tmp"
cd "$work/project"
started=$(date +%s.%N)
timeout 180 "$cache/node_modules/.bin/codex" exec --skip-git-repo-check --ephemeral --json \
  --dangerously-bypass-approvals-and-sandbox "$prompt" < /dev/null > "$work/codex.jsonl" 2> "$work/codex.err" 9>&- || {
  echo "codex failed:" >&2; tail -20 "$work/codex.err" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
# Closing the fake's stdin makes it print what it saw, then exit.
exec 9>&-
wait "$fake_pid" || true
fake_pid=

python3 - "$case" "$work/codex.jsonl" "$fake_out" "$took" <<'PY'
import json, sys
case, took = sys.argv[1], sys.argv[4]
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip().startswith("{")]
items = [e["item"] for e in events if e.get("type") == "item.completed"]
texts = " ".join(i.get("text", "") for i in items if i.get("type") == "agent_message")
errors = [e for e in events if e.get("type") in ("error", "turn.failed")]
assert not errors, errors
runs = json.loads(open(sys.argv[3]).read().splitlines()[-1])["runs"]
if case == "plain":
    assert "Hello from Cursor, through Codex." in texts, events
    assert len(runs) == 1, f"Codex re-sent the request: {runs}"
    print(f"codex e2e (plain): the answer arrived in {took} s, one Cursor run")
    sys.exit(0)
# tool: the model calls exec_command itself; exec: its JavaScript (Codex's custom `exec`
# tool) calls exec_command. Either way Codex runs the command and the output comes back.
marker, call, answer = {
    "tool": ("CODEX_TOOL_OK", "call_codex_1", "The command printed CODEX_TOOL_OK."),
    "exec": ("CODEX_EXEC_OK", "call_codex_2", "The script printed CODEX_EXEC_OK."),
}[case]
cmds = [i for i in items if i.get("type") == "command_execution"]
assert cmds, f"Codex ran no command: {events}"
assert marker in cmds[0].get("aggregated_output", ""), cmds[0]
assert answer in texts, events
tool_runs = [r for r in runs if r["mcp_results"]]
assert len(runs) == 1 and len(tool_runs) == 1, f"not one run with the tool result on its stream: {runs}"
(call_id, result), = tool_runs[0]["mcp_results"]
assert call_id == call and marker in result, tool_runs[0]
assert tool_runs[0]["end"] and "Ok" in tool_runs[0]["end"], tool_runs[0]
print(f"codex e2e ({case}): the command ran, its output continued the same Cursor run; {took} s")
PY
