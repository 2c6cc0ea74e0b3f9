#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs a
# migration of emulated devices, verified end to end by state digest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
exec build/bench/vmig-bench roundtrip "$@"
