#!/usr/bin/env bash
# `vmigctl fsm path` as an operator runs it: exact output and exit codes.
set -u
vmigctl=$1
fails=0
# expect CODE STDOUT -- ARGS...
expect() {
  local want_rc=$1 want_out=$2
  shift 3
  local out rc
  out=$("$vmigctl" "$@" 2>/tmp/vmigctl_err.$$)
  rc=$?
  if [ "$rc" != "$want_rc" ] || [ "$out" != "$want_out" ]; then
    echo "FAIL: vmigctl $*: rc=$rc (want $want_rc) out='$out' (want '$want_out')"
    cat /tmp/vmigctl_err.$$
    fails=$((fails + 1))
  fi
  if [ "$want_rc" = 2 ] && [ "$(wc -l </tmp/vmigctl_err.$$)" -lt 1 ]; then
    echo "FAIL: vmigctl $*: no reason on stderr"
    fails=$((fails + 1))
  fi
}
expect 0 "RUNNING -> RUNNING_P2P -> STOP" -- fsm path --flags stop_copy,p2p,pre_copy RUNNING STOP
expect 0 "RUNNING -> STOP" -- fsm path --flags stop_copy running stop
expect 0 "PRE_COPY -> PRE_COPY_P2P -> STOP_COPY" -- fsm path --flags STOP_COPY,P2P,PRE_COPY Pre_Copy stop_copy
expect 0 "PRE_COPY -> STOP_COPY" -- fsm path --flags 'stop_copy|pre_copy' PRE_COPY STOP_COPY
expect 0 "RESUMING -> STOP -> RUNNING_P2P -> RUNNING" -- fsm path RESUMING RUNNING
expect 0 "STOP" -- fsm path --flags stop_copy stop stop
expect 2 "" -- fsm path STOP_COPY PRE_COPY
expect 2 "" -- fsm path --flags stop_copy RUNNING RUNNING_P2P
expect 2 "" -- fsm path --flags stop_copy PRE_COPY PRE_COPY
expect 2 "" -- fsm path RUNNING ERROR
expect 2 "" -- fsm path --flags p2p,pre_copy RUNNING STOP
expect 2 "" -- fsm path --flags stop_copy,bogus RUNNING STOP
expect 2 "" -- fsm path RUNNING
expect 2 "" -- fsm path RUNNING NOWHERE
expect 2 "" -- fsm
expect 2 "" -- nosuchcommand
rm -f /tmp/vmigctl_err.$$
"$vmigctl" fsm path --help | grep -q "usage: vmigctl fsm path" || { echo "FAIL: --help"; fails=$((fails + 1)); }
"$vmigctl" --help | grep -q "fsm path" || { echo "FAIL: top-level --help"; fails=$((fails + 1)); }
# The version, and a mistyped flag named as such (offline: the usage error
# comes before any call).
expect 0 "vmigctl 0.1.0" -- --version
for args in "migrate start s1 --peer unix:/x --budjet 300ms" \
  "migrate status s1 --verbose" "migrate prepare s1 --devic d0" \
  "device attach d0 --emuu emu:"; do
  # shellcheck disable=SC2086
  "$vmigctl" --addr unix:///nonexistent.sock $args >/dev/null 2>/tmp/vmigctl_err.$$
  rc=$?
  if [ "$rc" != 2 ] || ! grep -q "unknown option --" /tmp/vmigctl_err.$$; then
    echo "FAIL: vmigctl $args: rc=$rc, stderr: $(head -1 /tmp/vmigctl_err.$$)"
    fails=$((fails + 1))
  fi
done
# Each migrate command has its own help, not its parent's.
parent=$("$vmigctl" migrate --help)
for c in prepare start update switchover cancel resolve status list watch wait; do
  own=$("$vmigctl" migrate "$c" --help)
  if [ "$own" = "$parent" ] || ! echo "$own" | grep -q "usage: vmigctl migrate $c"; then
    echo "FAIL: vmigctl migrate $c --help prints its parent's text"
    fails=$((fails + 1))
  fi
done
"$vmigctl" migrate start --help | grep -q -- "--allow-overrun" ||
  { echo "FAIL: start --help names --allow-overrun"; fails=$((fails + 1)); }
# A daemon that cannot be reached is explained in a sentence that names the
# address and what to check, not raw gRPC text; the exit code is non-zero.
explains() {  # ADDR WORDS...
  local addr=$1; shift
  local err
  err=$("$vmigctl" --addr "$addr" --timeout 3s device list 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -eq 0 ] || ! echo "$err" | grep -q -- "$*"; then
    echo "FAIL: vmigctl --addr $addr: wanted '$*', got (exit $rc): $err"
    fails=$((fails + 1))
  fi
}
tmp=$(mktemp -d)
explains "unix://$tmp/none.sock" "no daemon socket at unix://$tmp/none.sock"
# A socket file nobody listens on.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$tmp/dead.sock"
explains "unix://$tmp/dead.sock" "nothing is listening at unix://$tmp/dead.sock"
rm -rf "$tmp"
rm -f /tmp/vmigctl_err.$$
if [ "$fails" -ne 0 ]; then
  echo "$fails checks failed"
  exit 1
fi
echo "all vmigctl fsm checks passed"
