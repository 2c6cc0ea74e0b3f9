#!/usr/bin/env bash
# Two processes over a DPDK port, driven by vmig-bench transport, checked
# from its final JSON line.
#   transport_test.sh VMIG_BENCH memif-faults | memif-faults-unprotected |
#                     memif-2workers | af_packet | af_packet-2workers
set -uo pipefail
bench=$1 mode=$2
case $mode in
  memif-faults-unprotected)
    # The trusted-link mode: CRC32C and the session token, no cipher.
    out=$("$bench" transport --cipher none --streams 2 --bytes 256MiB --loss 0.01 \
          --corrupt 0.005 --no-baselines 2>&1) ;;
  memif-faults)
    # 1 GiB over 4 streams through 2% loss, 1% duplication, 2% reordering and
    # 0.5% corruption, injected by both processes on transmit.
    out=$("$bench" transport --streams 4 --bytes 1GiB --window 4MiB --loss 0.02 --dup 0.01 \
          --reorder 0.02 --corrupt 0.005 --no-baselines 2>&1) ;;
  memif-2workers)
    # Two workers per process, a queue pair each, streams spread over them,
    # through light loss and reordering.
    out=$("$bench" transport --workers 2 --streams 4 --bytes 256MiB --loss 0.01 \
          --reorder 0.01 --no-baselines 2>&1) ;;
  af_packet)
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
      echo "SKIP: network namespaces need root and iproute2"
      [ "${CI:-}" = true ] && { echo "FAIL: CI=true, and this test cannot run"; exit 1; }
      exit 77
    fi
    out=$("$bench" transport --port af_packet --streams 2 --bytes 64MiB --no-baselines 2>&1) ;;
  af_packet-2workers)
    # Two queue pairs per process: the kernel's fanout hash, not vmigd,
    # picks the queue of each frame, so workers hand frames to the owner of
    # their stream.
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
      echo "SKIP: network namespaces need root and iproute2"
      [ "${CI:-}" = true ] && { echo "FAIL: CI=true, and this test cannot run"; exit 1; }
      exit 77
    fi
    out=$("$bench" transport --port af_packet --workers 2 --streams 4 --bytes 64MiB \
          --no-baselines 2>&1) ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
rc=$?
echo "$out"
json=$(echo "$out" | tail -n 1)
field() { echo "$json" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1 ($2)"; fail=1; fi; }
check '[ $rc -eq 0 ]' "exit code $rc"
check '[ "$(field verified)" = true ]' "every destination digest equals its source"
check '[ "$(field mbufs_leaked)" = 0 ]' "no mbuf leaked by either process"
check '[ "$(field max_buffered_bytes)" -le "$(field window_bytes)" ]' \
  "receiver buffering $(field max_buffered_bytes) within the credit window $(field window_bytes)"
if [ "$mode" = memif-2workers ]; then
  check '[ "$(field workers)" = 2 ]' "two workers per process"
  check '[ "$(field min_queue_rx_frames)" -gt 1000 ]' \
    "both receive queues carried data ($(field min_queue_rx_frames) frames on the lesser)"
  check '[ "$(field retransmits)" -gt 0 ]' "losses were recovered by retransmission"
fi
if [ "$mode" = af_packet-2workers ]; then
  check '[ "$(field workers)" = 2 ]' "two workers per process"
  check '[ "$(field handoffs)" -gt 0 ]' \
    "frames that reached a non-owning worker were handed over ($(field handoffs))"
fi
if [ "$mode" = af_packet ]; then
  # The veth pair has a 9000-byte MTU: frames must use it (and the port must
  # not have reset the interface to ethdev's 1500).
  check '[ "$(field bytes_per_rx_frame)" -gt 4000 ]' \
    "jumbo frames on the wire ($(field bytes_per_rx_frame) bytes a frame)"
fi
if [ "$mode" = memif-faults-unprotected ]; then
  check '[ "$(field cipher)" = "\"none\"" ]' "unprotected on request"
  check '[ "$(field crc_errors)" -gt 0 ]' "corrupted frames were caught by the CRC"
fi
if [ "$mode" = memif-faults ]; then
  check '[ "$(field retransmits)" -gt 0 ]' "losses were recovered by retransmission"
  check '[ "$(field cipher)" = "\"aes-256-gcm\"" ]' "encrypted by default"
  check '[ "$(field auth_failures)" -gt 0 ]' \
    "corrupted frames were refused by the AEAD tag ($(field auth_failures))"
  check '[ "$(field replays)" -gt 0 ]' \
    "duplicated frames were refused by the replay window ($(field replays))"
  check '[ "$(field crc_errors)" = 0 ]' "no CRC computed under the AEAD"
fi
exit $fail
