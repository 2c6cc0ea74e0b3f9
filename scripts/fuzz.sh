#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (ASan+UBSan and
# coverage) into build-fuzz/, then runs each for VMIG_FUZZ_SECONDS (default
# 30) on a copy of its seed corpus (tests/fuzz/corpus/NAME/). A crash fails
# the run and leaves its input in build-fuzz/crashes/: add it to the corpus
# as a regression input once fixed. Prints each harness's executions per
# second and coverage. --build-only builds them and runs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${VMIG_FUZZ_SECONDS:-30}
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DVMIG_FUZZ=ON \
    -DVMIG_SANITIZE=address,undefined -DVMIG_BUILD_TESTS=OFF \
    -DVMIG_BUILD_BENCH=OFF >/dev/null
fi
harnesses=(frame flow emu_spec emu_stream config)
targets=()
for h in "${harnesses[@]}"; do targets+=("${h}_fuzzer"); done
cmake --build "$dir" -j "${VMIG_JOBS:-2}" --target "${targets[@]}"
[ "${1:-}" = --build-only ] && exit 0
mkdir -p "$dir/crashes"
fail=0
for h in "${harnesses[@]}"; do
  work=$(mktemp -d)
  cp -r "$root/tests/fuzz/corpus/$h/." "$work/" 2>/dev/null || true
  log="$dir/$h.log"
  if ! ASAN_OPTIONS=detect_leaks=0 "$dir/tests/fuzz/${h}_fuzzer" "$work" \
      -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$dir/crashes/$h-" -rss_limit_mb=4096 >"$log" 2>&1; then
    echo "fuzz: $h FAILED:"; tail -n 40 "$log"; fail=1
  fi
  execs=$(sed -n 's/.*stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz: $h: ${execs:-?} execs/s, ${cov:-cov: ?}, ${seconds}s"
  rm -rf "$work"
done
exit $fail
