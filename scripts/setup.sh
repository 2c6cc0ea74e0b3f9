#!/usr/bin/env bash
# Installs what vmigd needs on Debian 12, quietly and only when missing.
# Safe to run again: a machine that has everything installs nothing.
set -euo pipefail

packages=(
  cmake ninja-build ccache g++ pkg-config clang-format
  libabsl-dev libspdlog-dev libfmt-dev libxxhash-dev libisal-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libsystemd-dev openssl systemd
  libdpdk-dev dpdk iproute2 gnuplot-nox psmisc
  libipsec-mb-dev libssl-dev tshark tcpdump clang libclang-rt-14-dev
  libmicrohttpd-dev prometheus curl libyaml-cpp-dev python3-yaml libcli11-dev
  systemd-container
  nlohmann-json3-dev
  qemu-system-x86 busybox-static cpio xz-utils make binutils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Hugepages for DPDK, when the kernel lets us reserve them: fewer TLB misses
# on every frame (memif moved a median 1.12x as much as on --no-huge's 4 KiB
# pages over five alternating runs; docs/benchmarks.md). Without them vmigd
# runs on --no-huge.
want_pages=1024  # 2 GiB: the daemons and benchmarks of a full test run
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
  have=$(cat /proc/sys/vm/nr_hugepages)
  if [ "$have" -lt "$want_pages" ]; then
    echo "$want_pages" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
  fi
  if ! grep -q " hugetlbfs " /proc/mounts; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
  fi
  # Memif zero-copy needs --single-file-segments, which DPDK cannot combine
  # with --huge-unlink: a vmigd or benchmark process killed on purpose (the
  # crash tests) leaves its page file behind. Files no process maps are
  # such leftovers; removing them returns their pages.
  for f in /dev/hugepages/vmig*; do
    [ -e "$f" ] && ! fuser -s "$f" 2>/dev/null && rm -f "$f"
  done
fi
if grep -q " hugetlbfs " /proc/mounts &&
  [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -gt 0 ]; then
  echo "setup: hugepages: $(awk '/HugePages_Free/ {print $2}' /proc/meminfo) free 2 MiB pages"
else
  echo "setup: no hugepages (not root, or the kernel refused): DPDK runs with --no-huge"
fi
