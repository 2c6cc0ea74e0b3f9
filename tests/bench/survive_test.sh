#!/bin/bash
# The kill campaign at small scale (issue 26, item 1: the survivor lives):
# either daemon of a memif pair (the source a zero-copy client) killed -9 at
# a random point of a migration (pre-copy, stop-copy, the commit) or idle.
# Held: no survivor died; after each restart the link came back at both
# ends; every session ended by the first law (completed with the state on
# the destination and the source stopped, or rolled back with the source
# running, intact), no device left held; both daemons were killed at every
# kind of point. The 200-kill run is `vmig-bench survive` (docs/benchmarks.md).
set -u
bench="$1"
out=$("$bench" survive --kills 24 --seed 1)
rc=$?
echo "$out"
json=$(echo "$out" | tail -n 1)
source "$(dirname "$0")/json_check.sh"
check 'j["kills"] == 24' "all 24 kills ran"
check 'j["survivor_crashes"] == 0' "no survivor died with its peer"
check 'j["violations"] == 0' \
  "every session ended by the first law and every link came back"
check 'all(p in j["by_point"] for p in ("idle", "precopy", "stopcopy", "commit"))' \
  "kills at every kind of point"
check 'sum(v.get("source", 0) for v in j["by_point"].values()) > 0 and sum(v.get("destination", 0) for v in j["by_point"].values()) > 0' \
  "both daemons were victims"
[ $rc -eq 0 ] || { echo "FAIL: vmig-bench survive exited $rc"; fail=1; }
exit $fail
