#!/usr/bin/env bash
# The README's main job: a real live migration between two local vmigd
# daemons joined by DPDK memif, on emulated devices. It installs what is
# missing, builds, starts both daemons, attaches devices with vmigctl,
# migrates with a downtime budget while showing progress, prints the
# downtime breakdown and verifies every device's state by digest.
#
#   scripts/demo.sh [BUDGET]      (default 300ms)
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-300ms}
scripts/setup.sh
scripts/build.sh >/dev/null

bin=$PWD/build
work=$(mktemp -d /tmp/vmigd-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Two daemons on one host: the destination is the memif server, the source
# its zero-copy client (it reads device state straight into shared memory).
# Each pins its data-plane worker to its own core.
cat >"$work/source.conf" <<CONF
allow_emulated_devices: true
listen { unix_socket: "$work/source.sock" }
dataplane {
  lcores: "1" main_lcore: 0
  ports { name: "peer" ipv4: "169.254.77.1"
          memif: "role=client,socket=$work/memif.sock,socket-abstract=no,zero-copy=yes" }
}
CONF
cat >"$work/dest.conf" <<CONF
allow_emulated_devices: true
listen { unix_socket: "$work/dest.sock" }
# The source daemon is on this host: it calls the peer protocol over the
# socket (across hosts, peers use TCP with mutual TLS and
# peer.allowed_identities).
peer { allow_unix_peers: true }
dataplane {
  lcores: "0" main_lcore: 1
  ports { name: "peer" ipv4: "169.254.77.2"
          memif: "role=server,socket=$work/memif.sock,socket-abstract=no" }
}
CONF
src="$bin/control/cli/vmigctl --addr unix://$work/source.sock"
dst="$bin/control/cli/vmigctl --addr unix://$work/dest.sock"
wait_health() {
  for _ in $(seq 1 200); do
    $1 health >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon did not come up; its log:" >&2
  cat "$2" >&2
  exit 1
}
"$bin/control/server/vmigd" --config "$work/dest.conf" 2>"$work/dest.log" &
pids+=($!)
wait_health "$dst" "$work/dest.log"
"$bin/control/server/vmigd" --config "$work/source.conf" 2>"$work/source.log" &
pids+=($!)
wait_health "$src" "$work/source.log"

echo "== devices: a NIC VF and an NVMe VF with pre-copy, a GPU without, all with P2P"
$src device attach nic0 --emu "emu:state=256MiB,dirty=32MiB/s,read_bw=2GiB/s,transition_ms=5,seed=1" >/dev/null
$src device attach nvme0 --emu "emu:state=128MiB,dirty=8MiB/s,read_bw=2GiB/s,transition_ms=5,seed=2" >/dev/null
$src device attach gpu0 --emu "emu:state=16MiB,flags=stop_copy|p2p,read_bw=2GiB/s,transition_ms=5,seed=3" >/dev/null
for d in nic0 nvme0 gpu0; do
  size=$($src --output json device get $d | sed -n 's/.*"source": ".*state=\([0-9]*\).*/\1/p')
  $dst device attach $d --emu "emu:state=$size,seed=9" >/dev/null
done
$src device list

echo
echo "== migrating with a downtime budget of $budget"
$dst migrate prepare demo --device nic0 --device nvme0 --device gpu0 >/dev/null
$src migrate start demo --peer "unix://$work/dest.sock" \
  --map nic0=nic0 --map nvme0=nvme0 --map gpu0=gpu0 --budget "$budget" >/dev/null
status=0
$src migrate watch demo || status=$?

echo
echo "== data plane: the destination daemon's port and flows"
$dst dataplane status

echo
echo "== verification: every destination device holds its source's final state"
verified=1
for d in nic0 nvme0 gpu0; do
  s=$($src --output json device get $d | sed -n 's/.*"emulated_digest": "\([0-9]*\)".*/\1/p')
  t=$($dst --output json device get $d | sed -n 's/.*"emulated_digest": "\([0-9]*\)".*/\1/p')
  st=$($dst --output json device get $d | sed -n 's/.*"state": "DEVICE_STATE_\([A-Z_0-9]*\)".*/\1/p')
  if [ -n "$s" ] && [ "$s" = "$t" ]; then mark=equal; else mark=DIFFERENT; verified=0; fi
  printf '  %-6s source %20s  destination %20s  %s, destination %s\n' "$d" "$s" "$t" "$mark" "$st"
done
[ $status -eq 0 ] && [ $verified -eq 1 ] && echo "migration verified" && exit 0
echo "migration FAILED (see $work)" >&2
exit 1
