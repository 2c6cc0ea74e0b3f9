#!/bin/bash
# Runs the test suite (ctest over the build tree) N times back to back,
# optionally with a CPU hog on every core, and counts the tests that failed
# in each run: a timing assumption that holds on one machine and not on
# another shows here before it shows in CI.
#
#   scripts/flake-campaign.sh [RUNS] [--hog]
#
# Logs: $VMIG_FLAKE_DIR (default /tmp/vmig-flake)/run-K.log. Last line:
# JSON {"runs":N,"hog":bool,"failed_runs":F,"failures":{"TEST":count}}.
# Exit status 1 if any run failed.
set -u
runs=10
hog=false
for a in "$@"; do
  case "$a" in
    --hog) hog=true ;;
    [0-9]*) runs=$a ;;
    *) echo "usage: $0 [RUNS] [--hog]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
build=${VMIG_BUILD_DIR:-$here/build}
out=${VMIG_FLAKE_DIR:-/tmp/vmig-flake}
mkdir -p "$out"
[ -f "$build/CTestTestfile.cmake" ] || { echo "no build tree at $build" >&2; exit 2; }

declare -A failures
failed_runs=0
hogs=()
stop_hogs() {
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
  hogs=()
}
trap stop_hogs EXIT
for i in $(seq 1 "$runs"); do
  if $hog; then
    # One busy loop per core, at the tests' own priority: the suite must
    # hold on a loaded 2-core machine, not only on a quiet one.
    for _ in $(seq 1 "$(nproc)"); do
      yes > /dev/null &
      hogs+=($!)
    done
  fi
  start=$(date +%s)
  (cd "$build" && ctest -j 2 --output-on-failure) > "$out/run-$i.log" 2>&1
  rc=$?
  stop_hogs
  took=$(( $(date +%s) - start ))
  # ctest's summary: "The following tests FAILED:" then "\t 12 - Name (Failed)".
  names=$(sed -n '/The following tests FAILED:/,$p' "$out/run-$i.log" |
    sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (.*)$/\1/p')
  if [ "$rc" -ne 0 ]; then
    failed_runs=$((failed_runs + 1))
    while IFS= read -r n; do
      [ -n "$n" ] && failures[$n]=$(( ${failures[$n]:-0} + 1 ))
    done <<< "$names"
  fi
  echo "run $i/$runs (hog $hog): exit $rc in ${took}s; failed: $(echo $names | tr '\n' ' ')"
done
json=""
for n in "${!failures[@]}"; do
  json="$json${json:+,}\"${n//\"/\\\"}\":${failures[$n]}"
done
echo "{\"runs\":$runs,\"hog\":$hog,\"failed_runs\":$failed_runs,\"failures\":{$json}}"
[ "$failed_runs" -eq 0 ]
