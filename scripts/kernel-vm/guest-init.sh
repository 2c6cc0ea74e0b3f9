#!/bin/sh
# /init of the kernel-test VM (busybox, from the initramfs that
# scripts/kernel-vm/prepare.sh builds). It loads VFIO and the mtty sample
# driver, makes mtty mdevs, mounts the host's / read-only over 9p with tmpfs
# where programs write, runs the job's command chrooted into it and powers
# off. Each step prints a "vmig-rig: stage=" line, so that the host can say
# where a VM that hung stopped.
export PATH=/bin:/sbin
stage() { echo "vmig-rig: stage=$*" > /dev/console; }
die() { echo "vmig-rig: FAILED: $*" > /dev/console; echo 125 > /job/rc 2>/dev/null; poweroff -f; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stage "modules"
for m in $(cat /modules.order); do
  insmod "/modules/$m.ko" || die "insmod $m"
done
mkdir -p /host /job
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host \
  || die "mount the host's / over 9p"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /job \
  || die "mount the job folder over 9p"
mdevs=$(sed -n 's/.*vmig.mdevs=\([0-9]*\).*/\1/p' /proc/cmdline)
ports=$(sed -n 's/.*vmig.ports=\([0-9]*\).*/\1/p' /proc/cmdline)
stage "mdevs count=${mdevs:-0} ports=${ports:-1}"
types=/sys/class/mdev_bus/mtty/mdev_supported_types
[ -d "$types" ] || die "no mtty parent in /sys/class/mdev_bus"
: > /job/mdevs
i=0
while [ "$i" -lt "${mdevs:-0}" ]; do
  # Deterministic UUIDs: the VM's devices are named the same in every run.
  uuid=$(printf '83b8f4f2-509f-382f-3c1e-e6bfe0fa%04x' "$i")
  type=$(ls -d "$types"/*-"${ports:-1}" | head -n 1)
  echo "$uuid" > "$type/create" || die "create mdev $uuid in $type"
  group=$(basename "$(readlink "/sys/bus/mdev/devices/$uuid/iommu_group")")
  echo "$uuid /dev/vfio/$group" >> /job/mdevs
  i=$((i + 1))
done
stage "chroot"
[ -x /host/bin/bash ] || die "the host has no /bin/bash"
for d in proc sys dev tmp run var/tmp; do
  [ -d "/host/$d" ] || die "the host has no /$d to mount over"
done
# The folders tmpfs will cover, kept reachable: the command's folder (a
# clone under /tmp, say) is bound back into place below.
for d in tmp var/tmp run; do
  mkdir -p "/orig/$d"
  mount --bind "/host/$d" "/orig/$d"
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/shm /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs -o mode=755 tmpfs /host/run
mount -t tmpfs -o mode=1777 tmpfs /host/var/tmp
cwd=$(cat /job/cwd)
for d in tmp var/tmp run; do
  case "$cwd" in
    "/$d"/*)
      mkdir -p "/host$cwd"
      mount --bind "/orig$cwd" "/host$cwd" || die "bind $cwd"
      ;;
  esac
done
mkdir -p /host/tmp/job
mount --bind /job /host/tmp/job
if grep -q 'vmig.shared=1' /proc/cmdline; then
  mkdir -p /host/tmp/shared
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 shared \
    /host/tmp/shared || die "mount the shared folder over 9p"
fi
if [ -x /host/sbin/ip ]; then chroot /host /sbin/ip link set lo up; fi
stage "command"
# The command's output goes to the job folder and the console; its status
# to /job/rc.
(
  # bash: run-vm.sh quotes the command with printf %q.
  chroot /host /bin/bash /tmp/job/command.sh
  echo $? > /job/rc.tmp
) 2>&1 | tee /job/output.log > /dev/console
mv /job/rc.tmp /job/rc
sync
stage "done rc=$(cat /job/rc)"
poweroff -f
