#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, runs every test under ctest, then the reliability gates: the whole
# suite again under ASan+UBSan and vmigd's concurrent parts under TSan
# (scripts/sanitize.sh), and each libFuzzer harness for a bounded time
# (scripts/fuzz.sh). VMIG_SKIP_SANITIZERS=1 stops after the first suite.
# The gates share a time budget (VMIG_GATE_BUDGET_S, default 2400 s from the
# start): one that would start past it is reported as not run and fails the
# command, so that a slow machine says so instead of overrunning CI.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
budget=${VMIG_GATE_BUDGET_S:-2400}
scripts/setup.sh
scripts/build.sh -DVMIG_WERROR=ON
(cd "${VMIG_BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 900)
[ "${VMIG_SKIP_SANITIZERS:-0}" = 1 ] && exit 0
gate() {
  local elapsed=$(($(date +%s) - start))
  if [ "$elapsed" -gt "$budget" ]; then
    echo "test: NOT RUN: $1 (${elapsed}s spent, budget ${budget}s)"
    return 1
  fi
  echo "test: $1 (${elapsed}s so far)"
  "${@:2}"
}
fail=0
gate "sanitizers" scripts/sanitize.sh || fail=1
gate "fuzzers" scripts/fuzz.sh || fail=1
echo "test: done in $(($(date +%s) - start))s"
exit $fail
