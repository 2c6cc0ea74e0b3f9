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

# The table's folder that `path` belongs to (longest prefix), or nothing,
# in $owner (no subshell: the loop below runs once per include, thousands
# of times, and a fork each took the test to 25-45 s).
owner=""
folder_of() {
  local f
  owner=""
  for f in "${!allowed[@]}"; do
    if [[ "$1" == "$f/"* && ${#f} -gt ${#owner} ]]; then owner=$f; fi
  done
}

fail=0
checked=0
include_re='#include "([^"]*)"'
while IFS= read -r line; do
  file=${line%%:*}
  [[ "$line" =~ $include_re ]] || continue
  inc=${BASH_REMATCH[1]}
  folder_of "$file"
  from=$owner
  folder_of "$inc"
  to=$owner
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
