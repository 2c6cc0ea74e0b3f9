#!/bin/bash
# The soak at small scale (issue: reliability gates): migrations back to
# back between two daemons whose data planes drop, duplicate, reorder and
# corrupt frames, each with a fault drawn at random (a cancel at a random
# moment, a device arc failing on either side, the destination daemon
# killed or stopped and restarted). Held: every migration verified or
# rolled back with its source intact, no device left held, every kind of
# fault drawn at least once. Flatness of memory, threads, fds and mappings
# needs hundreds of migrations: `vmig-bench soak` (docs/benchmarks.md).
set -u
bench="$1"
out=$("$bench" soak --migrations 24 --seed 5 --cancel 0.3 --fail-arc 0.3 \
  --restart 0.1 --loss 0.005 --dup 0.005 --reorder 0.005 --corrupt 0.002)
rc=$?
echo "$out"
json=$(echo "$out" | tail -n 1)
source "$(dirname "$0")/json_check.sh"
check 'j["migrations"] == 24' "all 24 migrations ran"
check 'j["unverified"] == 0' "no completion with differing digests"
check 'j["not_intact"] == 0' "every rollback left its source RUNNING and intact"
check 'j["left_over"] == 0' "no device left attached or held"
check 'j["unexplained"] == 0 and j["errors"] == 0' \
  "no failure without a drawn fault, no migration that could not run"
check 'all(k in j["by_fault"] for k in ("none", "cancel", "fail-arc", "restart"))' \
  "every kind of fault was drawn"
check 'j["verified"] >= 5 and j["rolled_back"] >= 3' \
  "both outcomes happened"
[ $rc -eq 0 ] || { echo "FAIL: vmig-bench soak exited $rc"; fail=1; }
exit $fail
