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
  libdpdk-dev dpdk iproute2 gnuplot-nox
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
