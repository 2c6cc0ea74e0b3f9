#!/usr/bin/env bash
# The sanitizer stage of the README's test command: builds the whole tree
# with ASan+UBSan into build-asan/ and runs the whole suite there (the
# daemons the integration tests start are the instrumented ones), then
# builds with TSan into build-tsan/ and runs the tests of vmigd's own
# concurrent parts. Every report fails the run; suppressions
# (tests/sanitizers/) name third-party libraries only, each with a reason.
# Skipped with VMIG_SKIP_SANITIZERS=1 (quick local runs).
#
#   scripts/sanitize.sh [asan|tsan|all] [--build-only|--configure-only]
# --build-only builds and runs nothing (scripts/test.sh builds ahead so);
# --configure-only makes the build folders and builds nothing (scripts/
# fuzz.sh builds its harnesses in build-asan/ so).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
part=all build_only=0 configure_only=0
for a in "$@"; do
  case "$a" in
    asan | tsan | all) part=$a ;;
    --build-only) build_only=1 ;;
    --configure-only) configure_only=1 ;;
    *)
      echo "usage: sanitize.sh [asan|tsan|all] [--build-only|--configure-only]" >&2
      exit 2
      ;;
  esac
done
# Both sanitizer builds use clang: its instrumentation compiles about twice
# as fast as gcc's (tests/integration/fault_test.cc under ASan+UBSan: 13.7
# CPU-s with clang 14, 28.4 with gcc 12; the whole ASan tree from a cold
# cache: 1335 CPU-s with clang), and the sanitizer builds are most of a
# cold CI run. The default build stays gcc (Debian's own compiler), so the
# tree is built warning-free by both. A folder configured with another
# compiler is made afresh (CMake cannot change a folder's compiler).
clang_build_dir() {  # DIR
  if [ -f "$1/CMakeCache.txt" ] &&
    ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++$' "$1/CMakeCache.txt"; then
    echo "sanitize: $1 was configured with another compiler; making it afresh"
    rm -rf "$1"
  fi
}
# The ASan tree also carries libFuzzer's coverage instrumentation and the
# harnesses of tests/fuzz/ (scripts/fuzz.sh runs them): one tree compiled
# where there were two (a separate fuzzing tree cost 276 CPU-s from cold),
# for 3-7% more per file and no change in the suite's time (the callbacks
# are the sanitizer runtime's empty defaults outside a fuzzer).
configure_asan() {
  clang_build_dir build-asan
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DVMIG_WERROR=ON \
    -DVMIG_SANITIZE=address,undefined -DVMIG_FUZZ=ON >/dev/null
}
build_asan() {
  configure_asan
  cmake --build build-asan -j "${VMIG_JOBS:-2}"
}
tsan_tests=($(cat "$root/tests/sanitizers/tsan_tests"))
configure_tsan() {
  clang_build_dir build-tsan
  if [ ! -f build-tsan/build.ninja ]; then
    CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DVMIG_WERROR=ON \
      -DVMIG_SANITIZE=thread >/dev/null
  fi
}
build_tsan() {
  configure_tsan
  cmake --build build-tsan -j "${VMIG_JOBS:-2}" --target "${tsan_tests[@]}"
}
step=
[ "$configure_only" = 1 ] && step=configure
[ "$build_only" = 1 ] && step=build
if [ -n "$step" ]; then
  case "$part" in
    asan | tsan) "${step}_$part" ;;
    all) "${step}_asan" && "${step}_tsan" ;;
  esac
  exit
fi
reports=$(mktemp -d /tmp/vmig-sanitizers.XXXXXX)
trap 'rm -rf "$reports"' EXIT

fail=0
check_reports() {
  local n
  n=$(find "$reports" -type f | wc -l)
  if [ "$n" -gt 0 ]; then
    echo "sanitize: $n report file(s) from $1:"
    for f in "$reports"/*; do
      echo "== $f"
      head -n 60 "$f"
    done
    fail=1
    rm -f "$reports"/*
  fi
}

run_asan() {
  echo "sanitize: ASan+UBSan build (build-asan/)"
  build_asan
  export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
  (cd build-asan && ctest -j 2 --timeout 900 --output-on-failure) || fail=1
  check_reports "ASan+UBSan"
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
}

run_tsan() {
  echo "sanitize: TSan build of the concurrent parts (build-tsan/)"
  # The tests of vmigd's own concurrent parts: the journal, the peer
  # monitor's thread against a live engine, the destination session (peer
  # calls against its health checks), the emulated devices and their
  # transition log, and the source engine's streaming: whole migrations (and
  # their commits) over an in-process ring port, the data plane's worker
  # lcores sending and receiving. The mbufs cross lcores through DPDK's rings
  # and mempool caches, whose enqueue, dequeue, get and put are inline
  # functions compiled into vmigd (instrumented), so TSan sees their order;
  # the engine rig scales its liveness bound and default budget under TSan
  # (tests/daemon/engine_fixture.h), whose data plane runs several times
  # slower.
  build_tsan
  export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp"
  for t in "${tsan_tests[@]}"; do
    echo "sanitize: TSan $t"
    (cd build-tsan && "tests/$t" --gtest_brief=1) || fail=1
  done
  check_reports "TSan"
}
case "$part" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
esac
exit $fail
