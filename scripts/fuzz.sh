#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ in the ASan+UBSan tree
# (build-asan/, clang, which scripts/sanitize.sh configures with libFuzzer's
# coverage instrumentation), then runs each for VMIG_FUZZ_SECONDS (default
# 30) on a copy of its seed corpus (tests/fuzz/corpus/NAME/), two at a time
# (one per core; VMIG_JOBS). A crash fails
# the run and leaves its input in build-asan/crashes/: add it to the corpus
# as a regression input once fixed. Prints each harness's executions per
# second and coverage. --build-only builds them and runs nothing;
# --run-only runs them as they are built (scripts/test.sh runs them so in
# the background, once the ASan tree's build has ended, while the ASan
# suite runs in that tree: no configure, no build there).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${VMIG_FUZZ_SECONDS:-30}
dir=build-asan
harnesses=(frame flow emu_spec emu_stream config)
if [ "${1:-}" = --run-only ]; then
  for h in "${harnesses[@]}"; do
    if [ ! -x "$dir/tests/fuzz/${h}_fuzzer" ]; then
      echo "fuzz: $dir/tests/fuzz/${h}_fuzzer is not built (run without --run-only)"
      exit 1
    fi
  done
else
  scripts/sanitize.sh asan --configure-only
  targets=()
  for h in "${harnesses[@]}"; do targets+=("${h}_fuzzer"); done
  cmake --build "$dir" -j "${VMIG_JOBS:-2}" --target "${targets[@]}"
  [ "${1:-}" = --build-only ] && exit 0
fi
mkdir -p "$dir/crashes"
# One harness: its status in $dir/$h.rc, its output in $dir/$h.log.
fuzz_one() {
  local h=$1 work rc=0
  work=$(mktemp -d)
  cp -r "$root/tests/fuzz/corpus/$h/." "$work/" 2>/dev/null || true
  ASAN_OPTIONS=detect_leaks=0 "$dir/tests/fuzz/${h}_fuzzer" "$work" \
    -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/$h-" -rss_limit_mb=4096 \
    >"$dir/$h.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/$h.rc"
  rm -rf "$work"
}
# A harness runs on one core: VMIG_JOBS (default 2) run side by side.
jobs=${VMIG_JOBS:-2}
running=0
for h in "${harnesses[@]}"; do
  fuzz_one "$h" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
fail=0
for h in "${harnesses[@]}"; do
  log="$dir/$h.log"
  if [ "$(cat "$dir/$h.rc" 2>/dev/null)" != 0 ]; then
    echo "fuzz: $h FAILED:"; tail -n 40 "$log"; fail=1
  fi
  execs=$(sed -n 's/.*stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz: $h: ${execs:-?} execs/s, ${cov:-cov: ?}, ${seconds}s"
done
exit $fail
