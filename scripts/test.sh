#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, runs every test under ctest, then the gates: vmigd against the real
# kernel in VMs (scripts/kernel-test.sh: the conformance catalogue and
# migrations of mtty devices), the whole suite again under ASan+UBSan and
# vmigd's concurrent parts under TSan (scripts/sanitize.sh), and each
# libFuzzer harness for a bounded time (scripts/fuzz.sh).
# VMIG_SKIP_SANITIZERS=1 stops after the first suite. The gates' builds run
# ahead, in the idle scheduling class, while the first suite runs, and the
# fuzzers after them, while the ASan suite runs (below).
# The gates share a time budget (VMIG_GATE_BUDGET_S, default 5100 s from the
# start, 5 minutes inside CI's 90): a gate starts only if it would end by
# then at its longest (kernel 15 min, ASan 25, TSan 8, fuzzers 6; a cold
# run on a 2-core AMD guest reached the fuzzers at 3345 s and the old rule,
# no gate begun after 3300 s, failed it): one that would not, or that cannot run at all (exit 3:
# the kernel rig without its packages), is NOT RUN, said loudly; outside CI
# that does not fail the command (a machine with a cold compiler cache), but
# with CI=true it does: CI is the gates. A gate that runs and finds anything
# fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Every build below shares the compiler cache with clones at other paths.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
budget=${VMIG_GATE_BUDGET_S:-5100}
scripts/setup.sh
scripts/build.sh -DVMIG_WERROR=ON
if [ "${VMIG_SKIP_SANITIZERS:-0}" = 1 ]; then
  cd "${VMIG_BUILD_DIR:-build}"
  exec ctest --output-on-failure -j 2 --timeout 900
fi
# The gates' builds (ASan with the fuzzers, TSan) run ahead, in the background,
# while the suite runs: the suite runs its integration tests one at a time
# and leaves about 70% of two cores idle (measured from /proc/stat). They
# run in the idle scheduling class, so they get only a core nothing else
# wants, and a test's thread that wakes takes its core back at once. A gate
# waits for its own build to end (two ninjas must not share a build folder)
# and then builds as before: nothing left to do, or, if the build ahead
# failed, the same failure again in the foreground.
# Its own process group (job control, so that an exit stops all of it), but
# not its own session: with autogroup scheduling (Debian's default) a new
# session is a new group that gets an equal share of the CPUs whatever its
# tasks' class (the suite's heaviest tests ran 2-4 times slower so).
ahead=$(mktemp -d /tmp/vmig-ahead.XXXXXX)
set -m
bash -c '
  set +e
  low=(chrt --idle 0)
  "${low[@]}" true 2>/dev/null || low=(nice -n 19)
  # (The ASan tree holds the fuzzing harnesses too.) The fuzzers then run
  # here as well, once both builds are done, in the time the ASan suite
  # leaves idle (it ran at about a third of two cores): the fuzzers gate
  # reports that run. Only on a good ASan build, so that nothing relinks
  # a harness while it runs.
  for stage in asan tsan fuzz; do
    case $stage in
      fuzz)
        [ "$(cat "$1/asan.rc")" = 0 ] || break
        "${low[@]}" scripts/fuzz.sh --run-only ;;
      *) "${low[@]}" scripts/sanitize.sh "$stage" --build-only ;;
    esac >"$1/$stage.log" 2>&1
    echo $? >"$1/$stage.rc"
    echo $(($(date +%s) - $2)) >"$1/$stage.at"
  done' build-ahead "$ahead" "$start" </dev/null &
ahead_pid=$!
set +m
# (|| true: under errexit a failing kill, the group already gone, would end
# the trap before its rm.)
trap 'kill -- -"$ahead_pid" 2>/dev/null || true; rm -rf "$ahead"' EXIT
wait_ahead() {  # STAGE: until the run ahead has done it or has ended
  while [ ! -f "$ahead/$1.rc" ] && kill -0 "$ahead_pid" 2>/dev/null; do
    sleep 2
  done
}
await_ahead() {  # STAGE
  local since=$(date +%s) waited
  wait_ahead "$1"
  waited=$(($(date +%s) - since))
  if [ ! -f "$ahead/$1.rc" ]; then
    echo "test: the $1 build ahead did not finish; building in the foreground"
  elif [ "$(cat "$ahead/$1.rc")" != 0 ]; then
    echo "test: the $1 build ahead failed; building again here. Its log ends:"
    tail -n 20 "$ahead/$1.log"
  else
    echo "test: the $1 build ahead ended at $(cat "$ahead/$1.at")s (waited ${waited}s for it)"
  fi
}
(cd "${VMIG_BUILD_DIR:-build}" && ctest --output-on-failure -j 2 --timeout 900)
gate() {  # NAME LONGEST_SECONDS COMMAND...
  local elapsed=$(($(date +%s) - start)) rc
  if [ $((elapsed + $2)) -gt "$budget" ]; then
    not_run "$1 (${elapsed}s spent, up to ${2}s more, budget ${budget}s; run ${3} by itself)"
    return
  fi
  echo "test: $1 (${elapsed}s so far)"
  "${@:3}"
  rc=$?
  [ "$rc" -eq 3 ] && { not_run "$1 (it could not run here; see above)"; return; }
  return "$rc"
}
not_run() {
  echo "test: NOT RUN: $*"
  if [ "${CI:-}" = true ]; then
    echo "test: CI=true: a gate that did not run fails the run"
    return 1
  fi
  return 0
}
fail=0
gate "the real kernel" 900 scripts/kernel-test.sh || fail=1
await_ahead asan
gate "ASan+UBSan" 1500 scripts/sanitize.sh asan || fail=1
await_ahead tsan
gate "TSan" 480 scripts/sanitize.sh tsan || fail=1
# The fuzzers ran ahead (above) unless that could not be: then here.
fuzzers() {
  wait_ahead fuzz
  if [ -f "$ahead/fuzz.rc" ]; then
    echo "test: the fuzzers ran ahead, in the idle class, ending at $(cat "$ahead/fuzz.at")s:"
    cat "$ahead/fuzz.log"
    return "$(cat "$ahead/fuzz.rc")"
  fi
  scripts/fuzz.sh
}
gate "fuzzers" 360 fuzzers || fail=1
echo "test: done in $(($(date +%s) - start))s"
exit $fail
