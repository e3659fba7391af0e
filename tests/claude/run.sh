#!/usr/bin/env bash
# Real Claude Code (npm `@anthropic-ai/claude-code`, `claude -p`) through the real
# `cursor-bridge serve` against the fake Cursor, in a throw-away HOME.
# - plain: `fake-cursor claude-code`; Claude Code shows the answer, and the fake saw one
#   run whose user text is the prompt (the engine sent the newest user message as the
#   prompt, not Claude Code's environment block).
# - bash: `fake-cursor claude-code-bash`; the model calls Claude Code's `Bash` tool, Claude
#   Code runs it after the response body closed and sends the `tool_result`; the fake must
#   have seen one run that got the result on its own stream (no second run), and Claude
#   Code shows the answer that followed.
# Usage: tests/claude/run.sh [plain|bash]   (needs CARGO_TARGET_DIR's debug binaries
# built; default: both)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/fake.sh"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CARGO_TARGET_DIR:-$here/../../target}/debug"
# The Claude Code release this was verified with (its postinstall links a native binary
# from the package; nothing is downloaded at run time).
version="${CLAUDE_CODE_VERSION:-2.1.328}"
cache="${CURSOR_BRIDGE_CLAUDE_CODE_DIR:-$HOME/.cache/cursor-bridge/claude-code-$version}"
npm_install "$cache" "@anthropic-ai/claude-code@$version" claude
key="cb-claude-e2e"

# run_case SCENARIO PROMPT: serves the fake and the proxy, runs `claude -p PROMPT`, stops
# the fake (which then reports what it saw). Leaves $work/claude.jsonl and $fake_out.
run_case() {
  local scenario=$1 prompt=$2
  [ -z "${work:-}" ] || rm -rf "$work"
  new_work_dir
  trap 'kill "${serve_pid:-}" 2>/dev/null || true; stop_fake_and_clean' EXIT
  mkdir -p "$work/home" "$work/project"
  start_fake "$bin/fake-cursor" "$work" "$scenario"
  start_serve "$bin" "$work" "$key"
  local started
  started=$(date +%s%N)
  (cd "$work/project" && HOME="$work/home" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" \
    ANTHROPIC_API_KEY="$key" CLAUDE_CODE_MAX_RETRIES=0 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    DISABLE_TELEMETRY=1 timeout 180 "$cache/node_modules/.bin/claude" -p "$prompt" \
    --allowedTools Bash --output-format stream-json --verbose \
    < /dev/null > "$work/claude.jsonl" 2> "$work/claude.err" 9>&-) || {
    echo "claude failed:" >&2; tail -5 "$work/claude.err" >&2; tail -3 "$work/claude.jsonl" >&2
    tail -20 "$work/serve.log" >&2; exit 1; }
  echo "claude e2e ($scenario): claude -p took $((($(date +%s%N) - started) / 1000000)) ms" >&2
  kill "$serve_pid" 2>/dev/null || true
  # Closing the fake's stdin makes it print what it saw, then exit.
  exec 9>&-
  wait "$fake_pid" || true
  fake_pid=
}

check() {
  python3 - "$1" "$work/claude.jsonl" "$fake_out" "$2" <<'PY'
import json, re, sys
case, out, fake, prompt = sys.argv[1:]
events = [json.loads(l) for l in open(out) if l.strip()]
result = [e for e in events if e.get("type") == "result"][-1]
assert not result["is_error"], result
blocks = lambda role: [b for e in events if e.get("type") == role for b in e["message"]["content"]]
runs = json.loads(open(fake).read().splitlines()[-1])["runs"]
# Claude Code's side requests (titles and the like) would be runs without the prompt.
mine = [r for r in runs if r["user_text"] and r["user_text"].endswith(prompt)]
assert len(mine) == 1, f"expected one run for the prompt: {runs}"
run = mine[0]
if case == "plain":
    assert result["result"] == "Hello from Cursor, by way of Claude Code.", result
    assert run["mcp_results"] == [], run
    # Cursor's count (1200 input + 4000 cache read + 50 cache write), split as Anthropic does.
    usage = result["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"],
            usage["cache_creation_input_tokens"], usage["output_tokens"]) == (1200, 4000, 50, 9), usage
    print("claude e2e: plain answer shown; usage is Cursor's exact count split as Anthropic does")
else:
    uses = [b for b in blocks("assistant") if b["type"] == "tool_use"]
    results = [b for b in blocks("user") if b["type"] == "tool_result"]
    assert [u["name"] for u in uses] == ["Bash"], uses
    # The id Claude Code saw is the proxy's (128 random bits), not Cursor's `toolu_cc_1`.
    assert re.fullmatch(r"call_[0-9a-f]{32}", uses[0]["id"]), uses
    assert results and "BRIDGE_TOOL_OK" in str(results[0]["content"]), results
    assert result["result"] == "The command printed BRIDGE_TOOL_OK.", result
    assert len(runs) == 1, f"the tool result started another run: {runs}"
    assert [r[0] for r in run["mcp_results"]] == ["toolu_cc_1"], run
    assert run["mcp_results"][0][1].strip() == "BRIDGE_TOOL_OK", run
    assert run["end"] == "Ok", run
    print("claude e2e: Bash ran in Claude Code and its result continued the same Cursor run")
PY
}

case "${1:-all}" in
  plain|all) run_case claude-code "say hello"; check plain "say hello" ;;&
  bash|all) run_case claude-code-bash "print a marker with bash"; check bash "print a marker with bash" ;;
  plain|bash|all) ;;
  *) echo "usage: $0 [plain|bash]" >&2; exit 2 ;;
esac
