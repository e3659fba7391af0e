#!/usr/bin/env bash
# Fuzzes the Connect frame decoder and the OpenAI request parser (fuzz/: cargo-fuzz +
# libFuzzer, AddressSanitizer, debug assertions on) for a bounded time per target, starting
# from the seed corpus committed in fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]    (default 60; works from any directory)
#
# Exits non-zero when a target crashes (panic, sanitizer report, timeout, out of memory),
# after printing the reproducer and how to inspect and replay it. Nothing is written into
# the clone:
#   - builds go to $CURSOR_BRIDGE_FUZZ_TARGET_DIR (default ~/.cache/cursor-bridge/fuzz-target;
#     keep it between CI runs: a cold build takes minutes, a warm one seconds),
#   - inputs the fuzzer finds go to a temporary directory, deleted on exit,
#   - crash inputs and the crashing run's log go to $CURSOR_BRIDGE_FUZZ_OUT
#     (default ~/.cache/cursor-bridge/fuzz-out/<date-time>/<target>/).
#
# Only stable Rust is needed: RUSTC_BOOTSTRAP=1 lets the stable compiler take the
# `-Zsanitizer` flag cargo-fuzz passes (stable's rust-std ships the ASan runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs="${1:-60}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

targets=(frame_decoder request_parser)
cargo_fuzz_version=0.13.2
target_dir="${CURSOR_BRIDGE_FUZZ_TARGET_DIR:-$HOME/.cache/cursor-bridge/fuzz-target}"
out="${CURSOR_BRIDGE_FUZZ_OUT:-$HOME/.cache/cursor-bridge/fuzz-out}/$(date +%Y%m%d-%H%M%S)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  echo "==> installing cargo-fuzz $cargo_fuzz_version" >&2
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

# The build must not rewrite fuzz/Cargo.lock behind our back (cargo-fuzz has no --locked).
if ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "fuzz/Cargo.lock is out of date: run cargo update --manifest-path fuzz/Cargo.toml --workspace" >&2
  exit 1
fi

flags="--fuzz-dir fuzz --sanitizer address --debug-assertions --target-dir $target_dir"
echo "==> building fuzz targets (release, ASan, debug assertions)" >&2
# shellcheck disable=SC2086 # $flags is a list of words (a path with spaces is unsupported)
RUSTC_BOOTSTRAP=1 cargo fuzz build $flags
triple=$(rustc -vV | sed -n 's/^host: //p')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for t in "${targets[@]}"; do
  bin="$target_dir/$triple/release/$t"
  mkdir -p "$work/$t" "$out/$t"
  echo "==> fuzzing $t for ${secs}s" >&2
  # The first corpus directory receives new inputs (temporary); the seeds are only read.
  # -timeout: one input taking 10 s is a hang. -malloc_limit_mb: no single allocation may
  # approach what a lying length prefix could ask for (the decoder's limit is 64 MiB).
  status=0
  ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -artifact_prefix="$out/$t/" -print_final_stats=1 \
    "$work/$t" "$root/fuzz/corpus/$t" >"$work/$t.log" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' \
      "$work/$t.log" | sed 's/^/    /' >&2
    rmdir "$out/$t" 2>/dev/null || true
    continue
  fi
  failed=1
  cp "$work/$t.log" "$out/$t/fuzz.log"
  tail -n 60 "$work/$t.log" >&2
  echo "==> $t FAILED (libFuzzer exit $status); full log: $out/$t/fuzz.log" >&2
  artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$t.log")
  for a in $artifacts; do
    cat >&2 <<EOF
    reproducer: $a
    inspect:    cd $root && RUSTC_BOOTSTRAP=1 cargo fuzz fmt $flags $t $a
    replay:     cd $root && RUSTC_BOOTSTRAP=1 cargo fuzz run $flags $t $a
    then add it to fuzz/corpus/$t/ with the fix, so it is replayed on every run.
EOF
  done
done
rmdir "$out" 2>/dev/null || true
exit "$failed"
