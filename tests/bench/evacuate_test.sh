#!/usr/bin/env bash
# vmig-bench evacuate, small: 4 sessions from one source to two
# destinations, 2 sources into one, a capped source whose second
# destination is killed mid-way; daemons in network namespaces over
# af_packet. The command judges itself (exit 0: every target met); this
# checks that it ran the whole case and said so in its JSON.
# Under sanitizers (the second argument names them) the daemons run several
# times slower and the sessions' overlap is the instrumentation's: in one
# ASan run no sample saw the four capped sessions in pre-copy at once, so
# the kill (0.5 s after they were) never came and Jain's index had nothing
# to measure. There only what does not depend on timing is judged: every
# session that completed verified, none failed.
set -uo pipefail
bench=$1
sanitized="${2:-}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ "$(id -u)" != 0 ] && [ "${CI:-}" != true ]; then
  echo "SKIP: needs root for network namespaces"; exit 77
fi
"$bench" evacuate --sessions 4 --dests 2 --sources 2 --state 256MiB >"$out" 2>&1
rc=$?
cat "$out"
json=$(tail -n 1 "$out")
fail=0
check() { if ! echo "$json" | grep -q "$1"; then echo "FAIL: $2"; fail=1; fi; }
check '"verified":true' "every completed session verified"
if [ -n "$sanitized" ]; then
  if ! python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1])["failed"] != 0)' "$json"; then
    echo "FAIL: no session failed"; fail=1
  fi
  echo "NOT JUDGED under -fsanitize=$sanitized: budgets, Jain's index, the cap and the kill's timing"
  exit $fail
fi
check '"budgets_missed":0' "every budget met"
check '"killed_rolled_back":true' "the killed destination's sessions rolled back"
check '"cap_over":' "the cap measured on the wire"
check '"jain":' "Jain's index reported"
[ "$rc" -eq 0 ] || { echo "FAIL: vmig-bench evacuate exited $rc"; fail=1; }
exit $fail
