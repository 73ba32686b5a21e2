#!/usr/bin/env bash
# Fuzzing in CI: runs every cargo-fuzz target in fuzz/ for a bounded time and fails on any crash.
#
# Each target starts from its committed corpus (fuzz/corpus/<target>), copied to a temporary directory
# so that the inputs libFuzzer discovers never land in the repository. A crash, a panic, a broken
# invariant, an input slower than FUZZ_INPUT_TIMEOUT or memory above libFuzzer's limit fails the run;
# the reproducer is kept in fuzz/artifacts/<target>/ (git-ignored) and dumped into the log, since the
# CI checkout is thrown away.
#
# Environment:
#   FUZZ_SECONDS        time per target, in seconds (default 60: four minutes for the four targets)
#   FUZZ_TARGETS        targets to run, space separated (default: every target of fuzz/Cargo.toml)
#   FUZZ_INPUT_TIMEOUT  seconds one input may take before it counts as a hang (default 10)
#
# Reproduce a crash locally with:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-events ingest reference config}"
input_timeout="${FUZZ_INPUT_TIMEOUT:-10}"
# libFuzzer's default longest input is 4096 bytes or the longest seed, whichever is larger. Fixing it
# keeps the speed the same as the corpus grows; every kind of body fits in 4 KiB.
max_len=4096

# cargo-fuzz passes flags that only nightly accepts; RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
# Always fuzz/target (cargo-fuzz's default), even when the environment points cargo elsewhere: the
# instrumented build must never share a target directory with the normal one.
export CARGO_TARGET_DIR="$PWD/fuzz/target"

# No sanitizer: AddressSanitizer guards unsafe code, and modelwatch has none of its own, while it would
# cut the inputs tried in the short CI budget by 3 to 6 times. Debug assertions and overflow checks stay
# on (cargo-fuzz's default), so an arithmetic overflow or a failed debug_assert! is a crash.
sanitizer=none

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "== building the fuzz targets"
cargo fuzz build --sanitizer "$sanitizer"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Dumps the files libFuzzer saved for a target during this run, so that they survive in the log.
show_artifacts() {
  local target=$1 file
  for file in $(find "fuzz/artifacts/$target" -type f -newer "$work/started" 2>/dev/null); do
    echo "-- reproducer $file ($(wc -c <"$file") bytes), as hex:"
    od -A x -t x1z -v "$file" | head -n 200
  done
}

summary=()
failed=()
for target in $targets; do
  echo "== fuzzing $target for ${seconds}s"
  corpus="$work/corpus-$target"
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  touch "$work/started"
  log="$work/$target.log"
  status=0
  cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout="$input_timeout" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  summary+=("$(printf '%-10s %12s executions %8s exec/s' "$target" "${runs:-?}" "${speed:-?}")")
  if [ "$status" -ne 0 ]; then
    echo "!! $target failed (libFuzzer exit status $status); the end of its log:"
    tail -n 60 "$log"
    show_artifacts "$target"
    failed+=("$target")
  else
    echo "$target: ${runs:-?} executions, ${speed:-?} exec/s, no crash"
  fi
done

echo "== fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found a crash in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: no crash"
