#!/usr/bin/env bash
# vmigd against the real Linux kernel: Debian's 6.12 under QEMU/TCG with
# VFIO and the mtty sample driver (a real VFIO migration driver that needs
# no hardware), in VMs this script boots (scripts/kernel-vm/). It runs
#   1. the conformance catalogue (tests/vfio/conformance/) on the kernel,
#      the fake kernel and the emulated device;
#   2. MigrateLocally between two mtty devices (tests/vfio/kernel/);
#   3. two vmigd daemons migrating four mtty devices over memif, with a
#      cancel in pre-copy and in stop-copy and a destination killed
#      mid-stop-copy (tests/integration/mtty_daemons_vm_test.cc);
#   4. two VMs, two kernels: a source and a destination daemon, each in its
#      own guest, over af_packet on a virtio-net link and mutual TLS
#      (tests/integration/two_vm_guest.sh);
# and prints a JSON summary as its last line. Exit 0 only when every case
# agrees with the kernel or is documented and every migration verified.
#
# Installs what it needs (scripts/setup.sh), builds (scripts/build.sh) and
# keeps the kernel, mtty.ko and the initramfs in VMIG_KERNEL_CACHE
# (default /var/cache/vmigd/kernel-test), so that a second run boots in
# seconds. Exit 3 when the rig cannot run at all (no kernel packages to
# be had): the caller says NOT RUN.
#
#   scripts/kernel-test.sh            # everything
#   scripts/kernel-test.sh run -- CMD # CMD in one VM (see kernel-vm/run-vm.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export VMIG_KERNEL_CACHE=${VMIG_KERNEL_CACHE:-/var/cache/vmigd/kernel-test}
build=${VMIG_BUILD_DIR:-build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
export VMIG_BUILD_DIR=$build

if [ "${1:-}" = run ]; then
  shift
  exec scripts/kernel-vm/run-vm.sh "$@"
fi

scripts/setup.sh >/dev/null || exit 1
scripts/build.sh >/dev/null || { echo "kernel-test: the build failed" >&2; exit 1; }
if ! scripts/kernel-vm/prepare.sh "$VMIG_KERNEL_CACHE" >/dev/null; then
  echo "kernel-test: NOT RUN: no 6.12 kernel could be prepared" \
    "(the package registry unreachable?)" >&2
  exit 3
fi

work=$(mktemp -d /var/tmp/vmig-kernel-test.XXXXXX)
# VMIG_KERNEL_TEST_KEEP=1 keeps the VMs' outputs (named on stderr).
if [ -n "${VMIG_KERNEL_TEST_KEEP:-}" ]; then
  echo "kernel-test: outputs in $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
failed=()
step() { echo "kernel-test: $*" >&2; }

# 1-3 in one VM: nine single-port mdevs.
step "one VM: the conformance catalogue, MigrateLocally, two daemons"
mkdir -p "$work/one"
scripts/kernel-vm/run-vm.sh --job "$work/one" --mdevs 9 -- bash -c '
  set -u
  b=$VMIG_BUILD_DIR
  echo "== conformance"
  $b/tests/vfio_conformance --mdevs /tmp/job/mdevs \
    --documented tests/vfio/conformance/documented_differences.tsv \
    --markdown /tmp/job/conformance.md >/tmp/job/conformance.json \
    2>/tmp/job/conformance.err
  echo $? >/tmp/job/conformance.rc
  cat /tmp/job/conformance.err
  tail -n 1 /tmp/job/conformance.json
  echo "== mtty_vm_test"
  $b/tests/mtty_vm_test --gtest_output=xml:/tmp/job/mtty_vm_test.xml
  echo "== mtty_daemons_vm_test"
  $b/tests/mtty_daemons_vm_test --gtest_output=xml:/tmp/job/mtty_daemons_vm_test.xml
  true' | sed 's/^/  /' >&2
one_rc=${PIPESTATUS[0]}
[ "$one_rc" -eq 0 ] || failed+=("the first VM ended with status $one_rc")

# 4: two VMs joined by a socket netdev on the host's loopback.
step "two VMs: a migration between two kernels over af_packet and mutual TLS"
shared=$work/shared
mkdir -p "$shared/tls" "$work/a" "$work/b"
(
  cd "$shared/tls" || exit 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj /CN=vmig-kernel-test-ca
  cert() {  # NAME SAN
    printf 'subjectAltName=%s\n' "$2" >"$1.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$1.key" -out "$1.csr" -subj "/CN=$1/O=vmig-test"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
      -out "$1.pem" -days 2 -extfile "$1.ext"
  }
  cert vmigd-a DNS:vmigd-a
  cert vmigd-b DNS:vmigd-b,IP:169.254.10.2
  cert client DNS:operator
) >/dev/null 2>&1 || failed+=("cannot make the test certificates")
# What run-vm.sh says of a guest that died at boot, before its init ran.
boot_death="died before its init ran"
two_vms() {
  # Every file by which the guests speak: a second run must not read the
  # first's (a retried pair's source once took the first run's dest-ready
  # for its own destination's, and prepared it before its devices were in).
  rm -f "$shared"/*-report "$shared"/*-result "$shared"/source-session.json \
    "$shared"/dest-ready "$shared"/source-done "$shared"/dest-sessions \
    "$shared"/*-vmigd.log
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  scripts/kernel-vm/run-vm.sh --job "$work/b" --mdevs 4 --shared "$shared" \
    --net-listen "$port" --mac 52:54:00:6d:74:02 -- \
    tests/integration/two_vm_guest.sh dest "$VMIG_BUILD_DIR" >"$work/b.out" 2>&1 &
  local dest_vm=$!
  # The connecting side needs the listener up.
  for _ in $(seq 100); do
    ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && break
    sleep 0.1
  done
  scripts/kernel-vm/run-vm.sh --job "$work/a" --mdevs 4 --shared "$shared" \
    --net-connect "$port" --mac 52:54:00:6d:74:01 -- \
    tests/integration/two_vm_guest.sh source "$VMIG_BUILD_DIR" >"$work/a.out" 2>&1 &
  local source_vm=$!
  # A guest that died at boot took the pair's link with it, and its peer
  # would wait out its whole timeout (VMIG_VM_TIMEOUT_S, 600 s: a CI run
  # lost ten minutes so) for a daemon that never comes: its QEMU (known by
  # its console file) is stopped at once, and the pair runs again (below).
  local side other
  while kill -0 "$dest_vm" 2>/dev/null || kill -0 "$source_vm" 2>/dev/null; do
    for side in a b; do
      other=$([ "$side" = a ] && echo b || echo a)
      if grep -q "$boot_death" "$work/$side.out" 2>/dev/null &&
        pkill -f -- "file:$work/$other/console.log"; then
        step "the $side VM died at boot: its peer stopped"
      fi
    done
    sleep 1
  done
  wait "$dest_vm" "$source_vm"
}
two_vms
# A guest that died at boot, before its init ran (run-vm.sh says so; a TCG
# oops, not a finding), took the pair's link with it: the pair runs again.
if grep -q "$boot_death" "$work/a.out" "$work/b.out"; then
  step "a VM of the pair died at boot, before its init ran; the pair once more"
  grep -h -A 30 "$boot_death" "$work/a.out" "$work/b.out" >&2
  two_vms
fi
two_vm=true
for i in 0 1 2 3; do
  grep -qx "tty$i RUNNING mtty$i-fifo" "$shared/dest-report" 2>/dev/null || two_vm=false
  grep -q "^tty$i STOP " "$shared/source-report" 2>/dev/null || two_vm=false
done
grep -qx COMPLETED "$shared/source-result" 2>/dev/null || two_vm=false
if [ "$two_vm" != true ]; then
  failed+=("the two-VM migration did not verify")
  for f in "$work/a.out" "$work/b.out" "$shared"/*-report "$shared"/*-result \
    "$shared"/source-session.json; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; } >&2
  done
  for f in "$shared"/*-vmigd.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; } >&2
  done
fi

# The summary. A migration is verified when the test that made it passed
# (each checks every device's FIFO on the other side).
passed() {  # XML TESTNAME
  [ -f "$1" ] && python3 - "$1" "$2" <<'EOF'
import sys, xml.etree.ElementTree as ET
for t in ET.parse(sys.argv[1]).iter("testcase"):
    if t.get("name") == sys.argv[2] and t.get("result") == "completed" \
            and t.find("failure") is None and t.find("skipped") is None:
        sys.exit(0)
sys.exit(1)
EOF
}
verified=0 expected=0
check() {  # XML TESTNAME
  expected=$((expected + 1))
  if passed "$work/one/$1" "$2"; then
    verified=$((verified + 1))
  else
    failed+=("$2")
  fi
}
check mtty_vm_test.xml MigrateLocallyCarriesTheUartFifo
check mtty_vm_test.xml FromAnFdHandedOverByAVmm
check mtty_daemons_vm_test.xml FourRealDevicesMigrateInLockstepWithTheirFifos
expected=$((expected + 1))
[ "$two_vm" = true ] && verified=$((verified + 1))
# Every other test of the two binaries (rollbacks, attach by group) must
# pass too, and both must have run.
for x in mtty_vm_test.xml mtty_daemons_vm_test.xml; do
  bad=$(python3 - "$work/one/$x" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).iter("testcase"))
except Exception:
    cases = None
if not cases:
    print(sys.argv[1].rsplit("/", 1)[-1] + ":no-tests-ran")
for t in cases or []:
    if t.find("failure") is not None or t.get("result") != "completed":
        print(t.get("name"))
EOF
)
  [ -n "$bad" ] && failed+=($bad)
done
conf=$(tail -n 1 "$work/one/conformance.json" 2>/dev/null)
[ "$(cat "$work/one/conformance.rc" 2>/dev/null)" = 0 ] ||
  failed+=("the conformance catalogue: ${conf:-no summary}")
if [ -n "${VMIG_CONFORMANCE_TABLE:-}" ] && [ -f "$work/one/conformance.md" ]; then
  cp "$work/one/conformance.md" "$VMIG_CONFORMANCE_TABLE"
fi
for f in "${failed[@]}"; do echo "kernel-test: FAILED: $f" >&2; done
python3 - "$conf" "$verified" "$expected" "$two_vm" <<'EOF'
import json, sys
conf = json.loads(sys.argv[1]) if sys.argv[1].startswith("{") else {}
print(json.dumps({
    "cases": conf.get("cases", 0), "differ": conf.get("differ", 0),
    "documented": conf.get("documented", 0),
    "undocumented": conf.get("undocumented", 0),
    "kernel": conf.get("kernel", False),
    "migrations_verified": int(sys.argv[2]),
    "migrations_expected": int(sys.argv[3]),
    "two_vm_verified": sys.argv[4] == "true"}))
EOF
[ ${#failed[@]} -eq 0 ]
