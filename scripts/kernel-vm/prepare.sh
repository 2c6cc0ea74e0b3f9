#!/usr/bin/env bash
# Prepares what the kernel-test VM boots, in a cache folder so that a second
# run starts in seconds: a Debian 6.12 kernel with its modules (unpacked from
# the packages, the host's own kernel packages untouched), mtty.ko built out
# of tree from linux-source-6.12 against the matching headers, and a busybox
# initramfs holding the modules and scripts/kernel-vm/guest-init.sh.
# Prints the folder that holds vmlinuz and initrd.gz.
# Usage: prepare.sh CACHE_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: prepare.sh CACHE_DIR}
mkdir -p "$cache"
log() { echo "kernel-vm: $*" >&2; }
# One preparer at a time (two VMs boot at once in the two-VM test).
exec 9>"$cache/.lock"
flock 9

# The packages' ABI name, e.g. 6.12.118+deb12, and the source version.
# A cache that holds a prepared kernel is used as it is (no registry needed).
pick_version() {
  if [ -f "$cache/current" ]; then
    cat "$cache/current"
    return
  fi
  log "looking up the newest 6.12 kernel with image, headers and kbuild"
  apt-get update -q >/dev/null 2>&1 || true
  local v abi
  for v in $(apt-cache madison linux-source-6.12 | awk '{print $3}'); do
    abi=$(echo "$v" | sed -E 's/^([0-9.]+)-[0-9]+~(deb[0-9]+).*/\1+\2/')
    if apt-cache show "linux-image-$abi-amd64-unsigned" \
        "linux-headers-$abi-amd64" "linux-headers-$abi-common" \
        "linux-kbuild-$abi" >/dev/null 2>&1; then
      echo "$abi $v"
      return
    fi
  done
  log "no linux-source-6.12 with a matching image, headers and kbuild in the registry"
  return 1
}

read -r abi srcver < <(pick_version)
kdir="$cache/$abi"
rel="$abi-amd64"
if [ ! -f "$kdir/built" ]; then
rm -rf "$kdir/root" "$kdir/mtty"
mkdir -p "$kdir/debs" "$kdir/root"
if [ "$(ls "$kdir"/debs/*.deb 2>/dev/null | wc -l)" -lt 5 ]; then
  log "downloading kernel $abi (image, headers, kbuild, source)"
  (cd "$kdir/debs" && apt-get download -q \
    "linux-image-$rel-unsigned" "linux-headers-$rel" "linux-headers-$abi-common" \
    "linux-kbuild-$abi" "linux-source-6.12=$srcver" >/dev/null 2>&1) || {
    log "apt-get download failed (no network to the package registry?)"
    exit 3
  }
fi
for d in "$kdir"/debs/linux-{image,headers,kbuild}*.deb; do
  dpkg-deb -x "$d" "$kdir/root"
done
headers="$kdir/root/usr/src/linux-headers-$rel"
# The headers' Makefile includes the common part by its absolute path.
sed -i "s#^include /usr/src/#include $kdir/root/usr/src/#" "$headers/Makefile"

log "building mtty.ko from linux-source-6.12 $srcver"
mkdir -p "$kdir/mtty"
dpkg-deb --fsys-tarfile "$kdir"/debs/linux-source-6.12_*.deb |
  tar -xO ./usr/src/linux-source-6.12.tar.xz |
  tar -xJO linux-source-6.12/samples/vfio-mdev/mtty.c >"$kdir/mtty/mtty.c"
echo 'obj-m := mtty.o' >"$kdir/mtty/Kbuild"
# No pahole here: the module goes without BTF, which loading does not need.
make -s -C "$headers" M="$kdir/mtty" CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
cp "$kdir/root/boot/vmlinuz-$rel" "$kdir/vmlinuz"
rm -rf "$kdir/debs"
echo "$abi $srcver" >"$cache/current"
touch "$kdir/built"
fi

# The initramfs follows this script and the guest's init: rebuilt when
# either changed.
stamp=$(cat "$0" "$here/guest-init.sh" | sha256sum | cut -c1-16)
if [ -f "$kdir/initrd.gz" ] && [ "$(cat "$kdir/initrd.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$kdir"
  exit 0
fi

log "building the initramfs"
moddir="$kdir/root/lib/modules/$rel"
ird="$kdir/initramfs"
rm -rf "$ird"
mkdir -p "$ird"/{bin,sbin,proc,sys,dev,modules,host,job}
cp /bin/busybox "$ird/bin/busybox"
for applet in $("$ird/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ird/bin/$applet"
done
cp "$here/guest-init.sh" "$ird/init"
chmod +x "$ird/init"
# Modules in load order, each after what it depends on (from its own
# .modinfo: this host has no depmod or modinfo of the guest's kernel).
declare -A seen=()
order=()
module_file() {
  local name=${1//-/_} f
  f=$(find "$moddir/kernel" -name "$name.ko.xz" -o -name "${name//_/-}.ko.xz" | head -n 1)
  [ -n "$f" ] || { log "module $1 not found in $moddir"; return 1; }
  echo "$f"
}
add_module() {
  local name=${1//-/_} f deps d
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  if [ "$name" = mtty ]; then
    f="$kdir/mtty/mtty.ko"
    cp "$f" "$ird/modules/mtty.ko"
  else
    f=$(module_file "$name")
    xz -dc "$f" >"$ird/modules/$name.ko"
  fi
  deps=$(strings "$ird/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
  for d in $deps; do add_module "$d"; done
  order+=("$name")
}
for m in netfs 9pnet 9pnet_virtio 9p vfio vfio_iommu_type1 mdev mtty \
  failover net_failover virtio_net; do
  add_module "$m"
done
printf '%s\n' "${order[@]}" >"$ird/modules.order"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$kdir/initrd.gz.new"
mv "$kdir/initrd.gz.new" "$kdir/initrd.gz"
rm -rf "$ird"
echo "$stamp" >"$kdir/initrd.stamp"
echo "$kdir"
