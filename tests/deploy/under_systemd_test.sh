#!/bin/bash
# vmigd under a real systemd (issue: what operators expect). PID 1 here is
# not systemd, so the test boots one in its own namespaces: systemd-nspawn
# with a volatile root over the host's /usr, vmigd installed under
# /opt/vmigd (cmake --install into a DESTDIR, bound in), and a oneshot unit
# that runs inside_systemd.sh against the installed vmigd.service:
# readiness, STATUS= following a migration, a reload that refuses a bad
# configuration while the daemon keeps running, and a hung worker that
# stops the watchdog pings and gets the daemon restarted.
set -u
build="$1"
sanitized="${2:-}"  # -fsanitize= of that build, if any
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/vmig-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! command -v systemd-nspawn >/dev/null; then
  echo "FAIL: systemd-nspawn missing (Debian package systemd-container; scripts/setup.sh installs it)"
  exit 1
fi
# A host that cannot start any container (no namespaces, no cgroups)
# cannot run this test at all: say so and skip (77), loudly. A host that
# can, and whose systemd then fails the unit, fails the test.
if ! probe=$(timeout 60 systemd-nspawn -q -D / --volatile=yes --register=no \
  --keep-unit -M "vmigp$$" /bin/true 2>&1); then
  echo "SKIP: systemd-nspawn cannot start a container on this host: $probe"
  # CI runs as root and can start one: there a skip would hide the gate.
  [ "${CI:-}" = true ] && { echo "FAIL: CI=true, and this test cannot run"; exit 1; }
  exit 77
fi
DESTDIR="$work/root" cmake --install "$build" --prefix /opt/vmigd >/dev/null || {
  echo "FAIL: cmake --install"; exit 1; }
mkdir -p "$work/out"
cp "$here/inside_systemd.sh" "$work/root/opt/vmigd/inside_systemd.sh"
cat >"$work/vmigd-systemd-test.service" <<UNIT
[Unit]
Description=vmigd under systemd: the test
After=sysinit.target systemd-sysusers.service
[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/bin/bash /opt/vmigd/inside_systemd.sh
ExecStopPost=/bin/systemctl poweroff --no-block
UNIT
# A sanitized build: LeakSanitizer stops the world with ptrace(2), which
# the unit's system-call filter refuses (@debug), so leaks are not checked
# here (the rest of the sanitized suite checks them); ASan's other checks
# run, and a report in the journal fails the test.
dropin=()
if [ -n "$sanitized" ]; then
  mkdir -p "$work/vmigd.service.d"
  printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
    >"$work/vmigd.service.d/sanitizer.conf"
  dropin=(--bind-ro="$work/vmigd.service.d:/etc/systemd/system/vmigd.service.d")
fi
name="vmigt$$"
# systemd.firstboot=off: an empty /etc would otherwise make systemd ask
# for a locale on the console.
timeout 420 systemd-nspawn -q -D / --volatile=yes --register=no --keep-unit \
  -M "$name" \
  --bind="$work/root/opt/vmigd:/opt/vmigd" \
  --bind="$work/out:/out" \
  --bind-ro="$work/root/opt/vmigd/lib/systemd/system/vmigd.service:/etc/systemd/system/vmigd.service" \
  --bind-ro="$work/root/opt/vmigd/lib/sysusers.d/vmigd.conf:/etc/sysusers.d/vmigd.conf" \
  --bind-ro="$work/vmigd-systemd-test.service:/etc/systemd/system/vmigd-systemd-test.service" \
  "${dropin[@]}" \
  -b -- systemd.unit=vmigd-systemd-test.service systemd.firstboot=off \
  >"$work/console.log" 2>&1
rc=$?
if [ ! -s "$work/out/result" ]; then
  echo "FAIL: the container's systemd did not run the test (nspawn exit $rc)"
  sed 's/\x1b\[[0-9;]*m//g' "$work/console.log" | tail -40
  exit 1
fi
cat "$work/out/result"
[ -f "$work/out/journal" ] && grep -E "vmigd\[|systemd\[1\]: vmigd" "$work/out/journal" | tail -30 | sed 's/^/  journal: /'
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$work/out/journal"; then
  echo "FAIL: a sanitizer report in the container's journal:"
  grep -E -A20 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$work/out/journal" | head -40
  exit 1
fi
grep -q "^FAIL" "$work/out/result" && exit 1
grep -q "^done" "$work/out/result" || { echo "FAIL: the test did not finish"; exit 1; }
exit 0
