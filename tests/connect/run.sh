#!/usr/bin/env bash
# The configs `cursor-bridge connect` writes, read by the real clients (npm, pinned):
# Claude Code (`claude -p`) and Codex CLI (`codex exec`) each call the base URL connect
# wrote and authenticate with the local key, which they get by running `cursor-bridge key`
# (Claude Code's apiKeyHelper, Codex's provider `auth` command) — the key is in neither
# file. The server is a recording stub (tests/connect/stub.py), not the proxy: this checks
# the connection, the dialect lanes' tests check the conversations. Then `disconnect`
# puts both files back byte for byte. Everything in a throw-away HOME.
# Usage: tests/connect/run.sh   (needs CARGO_TARGET_DIR's debug binaries built)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CARGO_TARGET_DIR:-$here/../../target}/debug"
# The releases this was verified with (native binaries from npm; nothing downloaded at
# run time).
claude_version="${CLAUDE_CODE_VERSION:-2.1.328}"
codex_version="${CODEX_VERSION:-0.169.0}"
cache="${CURSOR_BRIDGE_CLIENTS_DIR:-$HOME/.cache/cursor-bridge/clients-$claude_version-$codex_version}"
if [ ! -x "$cache/node_modules/.bin/claude" ] || [ ! -x "$cache/node_modules/.bin/codex" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm i --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$claude_version" "@openai/codex@$codex_version" >/dev/null)
fi
work="$(mktemp -d "$HOME/.cache/cb-connect-e2e.XXXXXX" 2>/dev/null || mktemp -d)"
cleanup() { kill "${stub_pid:-}" 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home/.claude" "$work/home/.codex" "$work/cb" "$work/project"

# The user's own configs (Codex's with a comment; Claude Code's strict JSON, as it reads
# it): they must come back exactly.
printf '{\n  "theme":  "dark",\n  "includeCoAuthoredBy": false\n}\n' > "$work/home/.claude/settings.json"
printf '# mine\napproval_policy = "on-request"\n' > "$work/home/.codex/config.toml"
cp "$work/home/.claude/settings.json" "$work/claude.orig"
cp "$work/home/.codex/config.toml" "$work/codex.orig"

# The stub prints its port once it listens: read that line, no polling.
exec 3< <(python3 "$here/stub.py" "$work/calls.jsonl")
stub_pid=$!
read -r port <&3

export HOME="$work/home" CURSOR_BRIDGE_HOME="$work/cb" TMPDIR="$work/project"
cb="$bin/cursor-bridge"
"$cb" connect claude-code --port "$port" > "$work/connect-claude.out"
"$cb" connect codex --port "$port" --set-default > "$work/connect-codex.out"
key="$("$cb" key)"
for f in "$HOME/.claude/settings.json" "$HOME/.codex/config.toml"; do
  if grep -qF "$key" "$f"; then echo "the key was written into $f" >&2; exit 1; fi
done

cd "$work/project"
CLAUDE_CODE_MAX_RETRIES=0 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
  timeout 120 "$cache/node_modules/.bin/claude" -p "hi" < /dev/null > "$work/claude.out" 2>&1 || true
timeout 180 "$cache/node_modules/.bin/codex" exec --skip-git-repo-check --ephemeral "hi" \
  < /dev/null > "$work/codex.out" 2>&1 || true

python3 - "$work/calls.jsonl" "$key" <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
key = sys.argv[2]
messages = [c for c in calls if c["method"] == "POST" and c["path"].startswith("/v1/messages")]
responses = [c for c in calls if c["method"] == "POST" and c["path"] == "/v1/responses"]
assert messages, f"Claude Code never called /v1/messages: {calls}"
assert responses, f"Codex never called /v1/responses: {calls}"
for c in messages:
    assert c["x-api-key"] == key and c["authorization"] == f"Bearer {key}", c
for c in responses:
    assert c["authorization"] == f"Bearer {key}", c
print(f"connect e2e: Claude Code {len(messages)} × /v1/messages, Codex {len(responses)} × /v1/responses, both with the local key")
PY

"$cb" disconnect claude-code > /dev/null
"$cb" disconnect codex > /dev/null
cmp "$work/claude.orig" "$HOME/.claude/settings.json"
cmp "$work/codex.orig" "$HOME/.codex/config.toml"
echo "connect e2e: disconnect restored both files exactly"
