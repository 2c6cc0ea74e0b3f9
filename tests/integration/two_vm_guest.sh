#!/usr/bin/env bash
# One side of the two-VM migration (scripts/kernel-test.sh boots two
# kernel-test VMs joined by a QEMU socket netdev and runs this in each): a
# VMM holding four mtty devices (vmig-mtty-vmm) hands them to vmigd; the
# daemons talk over the VMs' virtio-net link, the data plane on af_packet
# and the peer protocol over TCP with mutual TLS; the source's control
# plane (vmigctl) prepares the destination over TCP+TLS and starts the
# migration. Each side leaves its VMM's report (device, state, FIFO) and
# its daemon's log in /tmp/shared; the host judges them.
#
# Usage: two_vm_guest.sh source|dest BUILD_DIR
set -u
role=$1
build=$2
sh=/tmp/shared
tls=$sh/tls
ctl=$build/control/cli/vmigctl
log() { echo "two-vm $role: $*"; }
# A side that gives up says so where its peer looks (the source's
# source-done, the destination's dest-result), so that the peer does not
# wait out its own bound, and ends its VMM and daemon, so that its VM ends.
fail() {
  log "FAILED: $*"
  echo "FAILED: $*" >"$sh/$role-result"
  [ "$role" = source ] && touch "$sh/source-done"
  touch /tmp/vmm/done 2>/dev/null
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null
  exit 1
}
# Waits (bounded) until a command succeeds.
await() {
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "no $what within ${seconds}s"
}

if [ "$role" = dest ]; then me=2; else me=1; fi
ip link set eth0 mtu 9000 2>/dev/null || true
ip link set eth0 up || fail "no eth0"
ip addr add "169.254.10.$me/24" dev eth0 || fail "cannot address eth0"
mkdir -p /tmp/vmm /tmp/state

fill=()
[ "$role" = source ] && fill=(--fill)
"$build/tests/vmig-mtty-vmm" --dir /tmp/vmm "${fill[@]}" --done /tmp/vmm/done \
  --report "$sh/$role-report" --timeout 900 &
vmm=$!
await 60 "VMM" test -f /tmp/vmm/vmm-ready

# Two TCG guests share the host's two cores: a liveness bound of 15 s (the
# default is 3 s) keeps a descheduled guest from reading as a dead peer.
if [ "$role" = dest ]; then
  listen_tcp="tcp_address: \"169.254.10.2:7443\" tls { cert_file: \"$tls/vmigd-b.pem\"
    key_file: \"$tls/vmigd-b.key\" ca_file: \"$tls/ca.pem\" require_client_cert: true }"
  peer="peer { allowed_identities: \"vmigd-a\" liveness_timeout_ms: 15000 }"
else
  listen_tcp=""
  peer="peer { tls { cert_file: \"$tls/vmigd-a.pem\" key_file: \"$tls/vmigd-a.key\"
    ca_file: \"$tls/ca.pem\" } liveness_timeout_ms: 15000 }"
fi
cat >/tmp/vmigd.conf <<EOF
listen { unix_socket: "/tmp/vmigd.sock" $listen_tcp }
state_dir: "/tmp/state"
$peer
dataplane { lcores: "1" main_lcore: 0
            ports { name: "p" af_packet: "eth0" ipv4: "169.254.77.$me" } }
EOF
"$build/control/server/vmigd" --config /tmp/vmigd.conf >"$sh/$role-vmigd.log" 2>&1 &
daemon=$!
local_ctl=("$ctl" --addr unix:///tmp/vmigd.sock)
await 120 "vmigd" "${local_ctl[@]}" health
for i in 0 1 2 3; do
  "${local_ctl[@]}" device attach "tty$i" --fd-socket "/tmp/vmm/tty$i.sock" ||
    fail "attach tty$i"
done
log "four mtty devices attached"

if [ "$role" = dest ]; then
  touch "$sh/dest-ready"
  await 600 "word from the source" test -f "$sh/source-done"
  "${local_ctl[@]}" migrate list >"$sh/dest-sessions" 2>&1
else
  await 300 "destination" test -f "$sh/dest-ready" -o -f "$sh/dest-result"
  [ -f "$sh/dest-ready" ] || fail "the destination gave up: $(cat "$sh/dest-result")"
  remote_ctl=("$ctl" --addr 169.254.10.2:7443 --tls-ca "$tls/ca.pem"
    --tls-cert "$tls/client.pem" --tls-key "$tls/client.key" --timeout 60s)
  "${remote_ctl[@]}" migrate prepare x1 --device tty0 --device tty1 \
    --device tty2 --device tty3 || fail "prepare over TCP+TLS"
  "${local_ctl[@]}" --timeout 60s migrate start x1 --peer 169.254.10.2:7443 \
    --map tty0=tty0 --map tty1=tty1 --map tty2=tty2 --map tty3=tty3 \
    --budget 10s || fail "start"
  "${local_ctl[@]}" --timeout 300s migrate wait x1
  rc=$?
  "${local_ctl[@]}" -o json migrate status x1 >"$sh/source-session.json" 2>&1
  [ $rc -eq 0 ] && echo COMPLETED >"$sh/source-result" ||
    echo "FAILED: migrate wait said $rc" >"$sh/source-result"
fi
touch /tmp/vmm/done
wait "$vmm"
[ "$role" = source ] && touch "$sh/source-done"
kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
log "done"
exit 0
