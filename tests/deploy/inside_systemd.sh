#!/bin/bash
# Runs as a oneshot unit inside the container under_systemd_test.sh boots:
# drives the installed vmigd.service with systemctl and vmigctl, writes
# "ok:"/"FAIL:" lines to /out/result, then "done".
set -u
out=/out/result
: >"$out"
ok() { echo "ok: $*" >>"$out"; }
fail() { echo "FAIL: $*" >>"$out"; echo "  (STATUS=$(status))" >>"$out"; }
check() { if eval "$1"; then ok "$2"; else fail "$2"; fi; }
ctl() { /opt/vmigd/bin/vmigctl --timeout 10s "$@"; }
conf=/opt/vmigd/etc/vmigd/vmigd.conf
status() { systemctl show -p StatusText --value vmigd; }
# Polls `cmd` (bounded) until it succeeds.
until_ok() {  # SECONDS CMD
  local end=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $end ]; do eval "$1" && return 0; sleep 0.2; done
  return 1
}

# The source under systemd: a memif server port and one emulated device.
cat >"$conf" <<CONF
allow_emulated_devices: true
listen { unix_socket: "/run/vmigd/vmigd.sock" }
dataplane {
  lcores: "1" main_lcore: 0
  ports { name: "p" memif: "role=server,socket=/run/vmigd/memif.sock,socket-abstract=no" ipv4: "169.254.77.1" }
}
devices { device_id: "nic0" emulated_spec: "emu:state=32MiB,flags=stop_copy|p2p|pre_copy,dirty=1MiB/s,seed=1" }
state_dir: "/var/lib/vmigd"
CONF
cp "$conf" /tmp/good.conf

# 1. Readiness: Type=notify, so start returns once vmigd said READY=1.
check 'systemctl start vmigd' "systemctl start vmigd returns once the daemon is ready"
check '[ "$(systemctl show -p ActiveState --value vmigd)" = active ]' "the unit is active"
check 'ctl --addr unix:///run/vmigd/vmigd.sock device list | grep -q nic0' \
  "the API answers on /run/vmigd/vmigd.sock as soon as the unit is active"
check '[ "$(stat -c %G /run/vmigd/vmigd.sock)" = vmigd ]' \
  "the control socket belongs to the vmigd group"
pid1=$(systemctl show -p MainPID --value vmigd)
sock=$(journalctl -u vmigd --no-pager | sed -n 's/.*DPDK telemetry at \([^ ]*\) .*/\1/p' | tail -1)
check '[ -n "$sock" ] && [ -S "$sock" ]' \
  "DPDK's telemetry socket is where the log says ($sock), inside the sandbox"
check 'python3 -c "
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.recv(4096)  # the greeting
s.send(b\"/vmigd/port\")
reply = json.loads(s.recv(65536).decode())
assert \"tx_frames\" in json.dumps(reply), reply
" "$sock"' "it answers /vmigd/port with the port's counters"

# The destination: a plain process beside it (memif client).
mkdir -p /run/dest
cat >/tmp/dest.conf <<CONF
allow_emulated_devices: true
listen { unix_socket: "/run/dest/vmigd.sock" }
peer { allow_unix_peers: true }
dataplane {
  lcores: "0" main_lcore: 1 file_prefix: "vmigdest"
  ports { name: "p" memif: "role=client,socket=/run/vmigd/memif.sock,socket-abstract=no" ipv4: "169.254.77.2" }
}
devices { device_id: "nic0" emulated_spec: "emu:state=32MiB,flags=stop_copy|p2p|pre_copy" }
CONF
/opt/vmigd/sbin/vmigd --config /tmp/dest.conf >/tmp/dest.log 2>&1 &
dest=$!
until_ok 30 'ctl --addr unix:///run/dest/vmigd.sock health >/dev/null 2>&1' ||
  fail "the destination did not start: $(tail -3 /tmp/dest.log)"
check 'until_ok 30 "status | grep -q \"link up\""' \
  "STATUS= says the link is up once the destination dialled in"

# 2. STATUS= follows a migration.
src="--addr unix:///run/vmigd/vmigd.sock"
dst="--addr unix:///run/dest/vmigd.sock"
ctl $dst migrate prepare m1 --device nic0 >/dev/null
ctl $src migrate start m1 --peer unix:///run/dest/vmigd.sock --map nic0=nic0 \
  --budget 10s --manual >/dev/null
check 'until_ok 30 "ctl $src migrate status m1 2>/dev/null | grep -q READY"' "the session waits in READY"
check 'until_ok 10 "status | grep -q \"1 session, 1 migrating\""' \
  "STATUS= says 1 migrating during the migration"
ctl $src migrate switchover m1 >/dev/null
check 'ctl $src migrate wait m1 --for completed >/dev/null' "the migration completed"
check 'until_ok 10 "status | grep -q \"1 session, 0 migrating\""' \
  "STATUS= says 0 migrating after it"

# 3. Reload: a bad configuration is refused, the daemon keeps running.
echo "this is not a configuration" >>"$conf"
systemctl reload vmigd
check '[ $? -ne 0 ]' "systemctl reload fails on a bad configuration"
check '[ "$(systemctl show -p MainPID --value vmigd)" = "$pid1" ] && [ "$(systemctl show -p ActiveState --value vmigd)" = active ]' \
  "the daemon keeps running, same pid"
check 'ctl $src health >/dev/null' "and keeps serving"
cp /tmp/good.conf "$conf"
check 'systemctl reload vmigd' "systemctl reload passes on a good one"

# 4. Watchdog: a worker made to hang stops the pings; systemd restarts vmigd.
sed -i 's/  lcores: "1" main_lcore: 0/  lcores: "1" main_lcore: 0 inject_faults { hang_worker_after_frames: 300 }/' "$conf"
systemctl restart vmigd
pid2=$(systemctl show -p MainPID --value vmigd)
until_ok 30 'status | grep -q "link up"'
ctl $dst migrate prepare m2 --device nic0 >/dev/null
ctl $src migrate start m2 --peer unix:///run/dest/vmigd.sock --map nic0=nic0 \
  --budget 10s --manual >/dev/null
check 'until_ok 20 "status | grep -q \"unwell: worker 0 of port p made no progress\""' \
  "STATUS= names the hung worker"
check 'until_ok 60 "[ \"\$(systemctl show -p NRestarts --value vmigd)\" -ge 1 ] && [ \"\$(systemctl show -p MainPID --value vmigd)\" != \"$pid2\" ] && [ \"\$(systemctl show -p ActiveState --value vmigd)\" = active ]"' \
  "systemd restarted the daemon after the watchdog timeout"
check 'journalctl -u vmigd --no-pager | grep -q "Watchdog timeout"' \
  "the journal says it was the watchdog"
check 'journalctl -u vmigd --no-pager | grep -q "watchdog: not vouching for the daemon"' \
  "the daemon logged why it stopped vouching"
check 'until_ok 30 "ctl $src migrate status m2 2>&1 | grep -q FAILED"' \
  "the restarted daemon knows the session from its journal: FAILED"
check 'ctl $src device get nic0 | grep -q RUNNING' "and its device runs on the source"

kill "$dest" 2>/dev/null
journalctl --no-pager >/out/journal 2>&1
echo done >>"$out"
