#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, runs every test under ctest, then the reliability gates: the whole
# suite again under ASan+UBSan and vmigd's concurrent parts under TSan
# (scripts/sanitize.sh), and each libFuzzer harness for a bounded time
# (scripts/fuzz.sh). VMIG_SKIP_SANITIZERS=1 stops after the first suite.
# The gates share a time budget (VMIG_GATE_BUDGET_S, default 2400 s from the
# start): one that would start past it is reported as NOT RUN (loudly, but
# without failing the command), so that a machine with a cold compiler
# cache does not overrun CI; a gate that runs and finds anything fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Every build below shares the compiler cache with clones at other paths.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
budget=${VMIG_GATE_BUDGET_S:-2400}
scripts/setup.sh
scripts/build.sh -DVMIG_WERROR=ON
(cd "${VMIG_BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 900)
[ "${VMIG_SKIP_SANITIZERS:-0}" = 1 ] && exit 0
gate() {
  local elapsed=$(($(date +%s) - start))
  if [ "$elapsed" -gt "$budget" ]; then
    echo "test: NOT RUN: $1 (${elapsed}s spent, budget ${budget}s;" \
      "run scripts/${2##*/} by itself)"
    return 0
  fi
  echo "test: $1 (${elapsed}s so far)"
  "${@:2}"
}
fail=0
gate "sanitizers" scripts/sanitize.sh || fail=1
gate "fuzzers" scripts/fuzz.sh || fail=1
echo "test: done in $(($(date +%s) - start))s"
exit $fail
