#!/usr/bin/env bash
# Folders point one way: each folder of vmigd's own code may include only
# the folders listed for it below (third-party and generated headers are
# not checked), so no folder includes one that includes it back. A file
# belongs to the longest folder of the table its path starts with, and so
# does an include: daemon/model/ may include nothing of vmigd's even though
# daemon/ may include it. A new include across the table fails this test;
# the table is docs/architecture.md's picture in a form the build checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder: the folders its files may include (besides its own).
declare -A allowed=(
  [common]=""
  [metrics]=""
  [vfio]="common"
  [proto]="vfio common"
  [dataplane]="vfio common"
  [daemon/model]=""
  [daemon/measures]="common"
  [daemon]="daemon/model daemon/measures dataplane metrics proto vfio common"
  [daemon/source]="daemon daemon/model daemon/measures dataplane proto vfio common"
  [daemon/destination]="daemon daemon/model daemon/measures dataplane proto vfio common"
  [daemon/session]="daemon/source daemon/destination daemon daemon/model daemon/measures dataplane metrics proto vfio common"
  [control/server]="daemon/session daemon/source daemon/destination daemon daemon/model daemon/measures dataplane metrics proto vfio common"
  [control/cli]="proto vfio common"
  [bench]="daemon daemon/model daemon/measures dataplane proto vfio common"
  [tests]="*"
)

# The table's folder that `path` belongs to (longest prefix), or nothing.
folder_of() {
  local best="" f
  for f in "${!allowed[@]}"; do
    if [[ "$1" == "$f/"* && ${#f} -gt ${#best} ]]; then best=$f; fi
  done
  echo "$best"
}

fail=0
checked=0
while IFS= read -r line; do
  file=${line%%:*}
  inc=$(sed -n 's/.*#include "\([^"]*\)".*/\1/p' <<<"$line")
  from=$(folder_of "$file")
  to=$(folder_of "$inc")
  [ -z "$from" ] || [ -z "$to" ] || [ "$from" = "$to" ] && continue
  checked=$((checked + 1))
  [ "${allowed[$from]}" = "*" ] && continue
  case " ${allowed[$from]} " in *" $to "*) continue ;; esac
  echo "layout: $file includes $inc ($to): $from may include only: ${allowed[$from]:-none}"
  fail=1
done < <(git grep -n '^#include "' -- '*.h' '*.cc')
[ "$checked" -gt 100 ] || { echo "layout: only $checked includes across folders: is this the tree?"; exit 1; }
[ "$fail" = 0 ] && echo "layout: $checked includes across folders, each one way"
exit "$fail"
