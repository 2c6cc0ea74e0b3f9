#!/usr/bin/env bash
# Configures (once) and builds vmigd with Ninja into build/.
# Usage: scripts/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${VMIG_BUILD_DIR:-build}
# Clones at other paths (CI's) share the compiler cache: paths under the
# tree are hashed relative to it.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
jobs=${VMIG_JOBS:-2}
if [ ! -f "$build_dir/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
fi
cmake --build "$build_dir" -j "$jobs"
