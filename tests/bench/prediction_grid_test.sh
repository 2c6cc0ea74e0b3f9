#!/bin/bash
# The downtime promise at small scale (issue: keep the downtime promise):
# `vmig-bench predict` runs a grid of heterogeneous sessions on a cold pair
# of daemons. Held here: the median prediction error over the predictions
# that rested on measurements is at most 10%; no completed session took
# more than 1.15x its budget; every unreachable budget was refused naming
# the smallest promisable downtime with the source intact; every completed
# session verified. The worst error (target 25%) is reported by the
# benchmark itself (docs/benchmarks.md): at this scale a few ms of noise on
# this shared machine are a large share of a 15 ms downtime.
# A run across which the host took a CPU away (vmig-bench's stall sentinel)
# is shown and not judged; if the host did so at any time, the worst error
# is not judged either (a stall may have hit what a later run measured),
# nor is a reachable budget refused after the host stalled during the grid
# (the link probe or a rate it rests on took the stall for slowness;
# the refusal must still name the smallest promisable downtime and leave
# the source intact, or it fails).
# Under sanitizers (the second argument names them) every phase runs
# several times slower and its timing is the instrumentation's: the
# errors are printed but not judged there; everything else is.
set -u
bench="$1"
sanitized="${2:-}"
out=$("$bench" predict --scale small --repeat 2)
echo "$out"
json=$(echo "$out" | tail -n 1)
source "$(dirname "$0")/json_check.sh"
check 'j["measured"] + j["stalled"] >= 6' "at least six predictions rested on measurements (judged, or shown for a stalled host)"
if [ -z "$sanitized" ]; then
  check 'j["median_error_pct"] <= 10' "median prediction error <= 10%"
  if [ "$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_stalls"])')" = 0 ]; then
    check 'j["worst_error_pct"] <= 25' "worst prediction error <= 25%"
  else
    echo "NOT JUDGED: the worst prediction error, for the host took a CPU away during the grid (host_stalls in the JSON)"
  fi
else
  echo "not judged: prediction errors under -fsanitize=$sanitized (timing)"
fi
check 'j["over_budget"] == 0' "no completed session over 1.15x its budget"
if [ "$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refused_stalled"])')" != 0 ]; then
  echo "NOT JUDGED: reachable budgets refused after the host took a CPU away during the grid (refused_stalled in the JSON)"
fi
check 'j["refused_ok"] >= 1 and j["refused_bad"] == 0' \
  "unreachable budgets refused with the promised minimum, source intact"
check 'j["unverified"] == 0 and j["errors"] == 0' "every completed session verified"
exit $fail
