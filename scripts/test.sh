#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, and runs every test under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DVMIG_WERROR=ON
cd "${VMIG_BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 900
