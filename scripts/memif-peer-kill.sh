#!/bin/bash
# The survivor of a killed memif peer, at the transport alone (no daemons):
# two `vmig-bench transport-node` processes over memif (the sender memif's
# zero-copy client) stream 2 x 8 GiB; one of them (VICTIM: send or recv) is
# killed -9 at a random moment 0.1-0.9 s into the stream, and the other is
# looked at 1 s later: still running (survived), or ended by a signal
# (crashed). Prints one line per kill and a total.
#   scripts/memif-peer-kill.sh [KILLS] [VICTIM] [VMIG_BENCH]
set -u
n=${1:-10}
victim=${2:-send}
bench=${3:-build/bench/vmig-bench}
dir=$(mktemp -d /tmp/memif-peer-kill-XXXXXX)
trap 'rm -rf "$dir"' EXIT
head -c 64 /dev/urandom >"$dir/keys"
node() {  # ROLE PREFIX MAIN WORKER LOCAL PEER
  "$bench" transport-node --role "$1" --port memif --socket "$dir/sock" \
    --streams 2 --bytes 8GiB --prefix "$2" --main-lcore "$3" \
    --worker-lcore "$4" --local-ip "$5" --peer-ip "$6" \
    --ready-file "$dir/ready" --keys-file "$dir/keys" --timeout 20 \
    >"$dir/$1.out" 2>"$dir/$1.err" &
  echo $!
}
crashes=0
for i in $(seq 1 "$n"); do
  rm -f "$dir/sock" "$dir/ready"
  r=$(node recv mpk-r 0 1 169.254.77.2 169.254.77.1)
  for _ in $(seq 300); do [ -S "$dir/sock" ] && break; sleep 0.01; done
  s=$(node send mpk-s 1 0 169.254.77.1 169.254.77.2)
  for _ in $(seq 300); do [ -e "$dir/ready" ] && break; sleep 0.01; done
  sleep "0.$((RANDOM % 9 + 1))"
  if [ "$victim" = send ]; then k=$s; o=$r; else k=$r; o=$s; fi
  kill -9 "$k"
  wait "$k" 2>/dev/null
  sleep 1
  if kill -0 "$o" 2>/dev/null; then
    echo "$i: survivor running"
    kill -9 "$o"
    wait "$o" 2>/dev/null
  else
    wait "$o" 2>/dev/null
    rc=$?
    if [ "$rc" -ge 128 ]; then
      crashes=$((crashes + 1))
      echo "$i: survivor CRASHED (signal $((rc - 128)))"
    else
      echo "$i: survivor exited $rc"
    fi
  fi
done
echo "victim $victim: $n kills, $crashes survivors crashed"
[ "$crashes" -eq 0 ]
