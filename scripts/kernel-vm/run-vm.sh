#!/usr/bin/env bash
# Boots the kernel-test VM (Debian's 6.12 under QEMU/TCG, VFIO and mtty
# loaded, N mtty mdevs made) and runs one shell command inside it, chrooted
# into the host's / (shared read-only over 9p) in the current folder. The
# command's output comes back on stdout and its exit status is this
# script's. Inside, /tmp/job/mdevs lists the mdevs ("UUID /dev/vfio/N" a
# line) and /tmp/job is shared with the host's job folder.
#
# Bounded: a VM that has not finished after VMIG_VM_TIMEOUT_S (default 600)
# is killed, and the run fails saying the last stage the guest reached.
#
# Two VMs: --shared DIR is a folder both mount at /tmp/shared, and
# --net-listen PORT / --net-connect PORT joins their eth0 (virtio-net) over
# a QEMU socket netdev on the host's loopback (--mac to tell them apart).
#
# Usage: run-vm.sh [--mdevs N] [--ports 1|2] [--job DIR] [--shared DIR]
#                  [--net-listen PORT | --net-connect PORT] [--mac MAC]
#                  -- COMMAND...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VMIG_KERNEL_CACHE:-/var/cache/vmigd/kernel-test}
timeout_s=${VMIG_VM_TIMEOUT_S:-600}
mdevs=4
ports=1
job=
shared=
net=()
mac=52:54:00:6d:74:01
while [ $# -gt 0 ]; do
  case "$1" in
    --shared) shared=$2; shift 2 ;;
    --net-listen) net=(-netdev "socket,id=n0,listen=127.0.0.1:$2"); shift 2 ;;
    --net-connect) net=(-netdev "socket,id=n0,connect=127.0.0.1:$2"); shift 2 ;;
    --mac) mac=$2; shift 2 ;;
    --mdevs) mdevs=$2; shift 2 ;;
    --ports) ports=$2; shift 2 ;;
    --job) job=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run-vm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: run-vm.sh [--mdevs N] -- COMMAND..." >&2; exit 2; }

kdir=$("$here/prepare.sh" "$cache")
if [ -z "$job" ]; then
  job=$(mktemp -d /tmp/vmig-vm.XXXXXX)
  trap 'rm -rf "$job"' EXIT
fi
mkdir -p "$job"
rm -f "$job/rc" "$job/output.log" "$job/console.log"
pwd >"$job/cwd"  # the guest binds it back where its tmpfs would hide it
{
  echo "cd $(printf '%q' "$PWD") || exit 125"
  # Environment the command needs, passed on explicitly.
  for v in $(compgen -e | grep -E '^(VMIG_|GTEST_)'); do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf '%q ' "$@"
  echo
} >"$job/command.sh"

# -cpu max gives TCG's whole feature set (AVX2 among it; vmigd picks its
# SIMD at run time). Two vCPUs: the daemons' poll-mode workers need two.
extra=()
append="console=ttyS0 panic=-1 loglevel=4 vmig.mdevs=$mdevs vmig.ports=$ports"
if [ -n "$shared" ]; then
  extra+=(-fsdev "local,id=shared,path=$shared,security_model=none"
    -device virtio-9p-pci,fsdev=shared,mount_tag=shared)
  append+=" vmig.shared=1"
fi
if [ ${#net[@]} -gt 0 ]; then
  extra+=("${net[@]}" -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=")
else
  extra+=(-nic none)  # no NIC at all: QEMU's default would be user networking
fi
boot() {
  rm -f "$job/rc" "$job/output.log" "$job/console.log"
  set +e
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m "${VMIG_VM_MEMORY:-3G}" \
    -nographic -no-reboot -monitor none -serial "file:$job/console.log" \
    -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.gz" \
    -append "$append" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev local,id=job,path="$job",security_model=none \
    -device virtio-9p-pci,fsdev=job,mount_tag=job \
    "${extra[@]}" </dev/null
  qemu_rc=$?
  set -e
}
boot
# A guest that died before its init's first line ran none of the command:
# QEMU 7.2's TCG now and then oopses the kernel at boot (seen once: an int3
# trap in sched_clock_cpu while the kernel patched its own text). Such a
# VM is booted once more, saying so; a VM joined to another by a socket
# netdev is not (its peer's link went with it: kernel-test.sh retries the
# pair). Whatever happens after init is the run's result.
if [ ! -f "$job/rc" ] && [ "$qemu_rc" -ne 124 ] && [ "$qemu_rc" -ne 137 ] &&
  ! grep -aq 'vmig-rig:' "$job/console.log" 2>/dev/null; then
  echo "run-vm: the VM died before its init ran (qemu status $qemu_rc):" >&2
  tail -n 30 "$job/console.log" >&2 2>/dev/null || true
  if [ ${#net[@]} -eq 0 ]; then
    echo "run-vm: booting it once more" >&2
    boot
  fi
fi
last=$(grep -a 'vmig-rig:' "$job/console.log" 2>/dev/null | tail -n 1 || true)
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  echo "run-vm: the VM did not finish within ${timeout_s}s and was killed;" \
    "it stopped at: ${last:-before its init ran}" >&2
  tail -n 20 "$job/console.log" >&2 2>/dev/null || true
  exit 124
fi
if [ ! -f "$job/rc" ]; then
  echo "run-vm: the VM ended (qemu status $qemu_rc) without the command's" \
    "status; it stopped at: ${last:-before its init ran}" >&2
  tail -n 30 "$job/console.log" >&2 2>/dev/null || true
  exit 125
fi
rc=$(cat "$job/rc")
# Kernel warnings are findings: show them whatever the status.
grep -a -A 12 -E 'WARNING:|BUG:|Oops' "$job/console.log" >&2 || true
exit "$rc"
