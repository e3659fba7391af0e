#!/usr/bin/env bash
# The supply chain, checked offline: `cargo deny check` (advisories, bans, licences,
# sources; deny.toml) against the dated RustSec snapshot in supply-chain/, then
# `npm audit --omit=dev` for the UI's shipped dependencies (from ui/package-lock.json).
#
# Usage: scripts/supply-chain.sh             check (CI runs this)
#        scripts/supply-chain.sh refresh DIR  replace the snapshot with a checkout of
#                                             github.com/rustsec/advisory-db at DIR
# Needs cargo-deny (scripts/setup.sh installs the pinned version).
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot=supply-chain/advisory-db.tar.gz
about=supply-chain/advisory-db.txt

if [ "${1:-}" = "refresh" ]; then
  src="${2:?usage: scripts/supply-chain.sh refresh <advisory-db checkout>}"
  commit=$(git -C "$src" rev-parse HEAD)
  date=$(git -C "$src" show -s --format=%cI HEAD)
  git -C "$src" archive --format=tar HEAD | gzip -9n >"$snapshot"
  printf 'source: RustSec advisory-db (github.com/rustsec/advisory-db), licence CC0-1.0\ncommit: %s\ndate: %s\n' \
    "$commit" "$date" >"$about"
  echo "supply-chain: snapshot of $commit ($date) written to $snapshot"
  exit 0
fi

commit=$(sed -n 's/^commit: //p' "$about")
date=$(sed -n 's/^date: //p' "$about")

# cargo-deny reads a database as a git checkout and takes its age from the last commit
# (or the HEAD file's time, whichever is newer): the unpacked copy gets one commit dated
# as the snapshot, so the staleness limit in deny.toml counts the snapshot's real age.
# The directory name is the one cargo-deny derives from the URL in deny.toml.
dbs="${CARGO_TARGET_DIR:-target}/advisory-dbs"
db="$dbs/advisory-db-3157b0e258782691"
if [ "$(cat "$db/.snapshot" 2>/dev/null)" != "$commit" ]; then
  rm -rf "$db"
  mkdir -p "$db"
  tar -xzf "$snapshot" -C "$db"
  (
    cd "$db"
    git init -q
    git add -A
    GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
      git -c user.name=snapshot -c user.email=snapshot@localhost -c commit.gpgsign=false \
      commit -q -m "advisory-db $commit"
    touch -d "$date" .git/HEAD
  )
  echo "$commit" >"$db/.snapshot"
fi
echo "supply-chain: RustSec advisories as of $date (snapshot $commit)"
CURSOR_BRIDGE_ADVISORY_DBS="$dbs" cargo deny --frozen check --hide-inclusion-graph \
  advisories bans licenses sources

# The UI's shipped packages (ui/package-lock.json, dev tools left out). A finding fails
# the run. A registry that refuses the audit request (some mirrors allow only downloads,
# as this project's CI machine does) cannot answer at all: that is said, not hidden, and
# does not fail the run, since no finding was reported.
echo "supply-chain: npm audit --omit=dev (ui/)"
set +e
report=$(cd ui && npm audit --omit=dev --json 2>/dev/null)
code=$?
set -e
# No "metadata" means npm got no report; its "message" says why.
reason=$(printf '%s' "$report" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    print("no JSON from npm audit"); sys.exit()
if "metadata" not in r:
    print(r.get("message") or "no report")')
if [ -n "$reason" ]; then
  echo "supply-chain: WARNING: npm audit got no answer ($reason): the UI's packages were NOT checked for advisories" >&2
elif [ "$code" -ne 0 ]; then
  (cd ui && npm audit --omit=dev) || true
  echo "supply-chain: npm audit found advisories in the UI's shipped packages" >&2
  exit 1
else
  echo "supply-chain: npm audit: no advisories in the UI's shipped packages"
fi
