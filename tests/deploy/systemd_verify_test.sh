#!/usr/bin/env bash
# The unit passes `systemd-analyze verify`, with its paths pointed at this
# build (verify checks that the executables exist), and the example config
# passes `vmigd --check-config`.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit as `cmake --install` writes it (its paths follow the install
# prefix), with its binaries pointed at this build.
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
unit="$tmp/prefix/lib/systemd/system/vmigd.service"
grep -q "ExecStart=.*/vmigd --config" "$unit"
sed -e "s|ExecStart\(Pre\)\?=[^ ]*/vmigd |ExecStart\1=$build/control/server/vmigd |g" \
    -e "s|ExecStartPre=[^ ]*/vmigd-hugepages|ExecStartPre=$src/deploy/vmigd-hugepages|" \
    "$unit" > "$tmp/vmigd.service"
out=$(systemd-analyze verify "$tmp/vmigd.service" 2>&1) || { echo "$out"; exit 1; }
# verify prints warnings for problems it does not fail on: treat any line
# about our unit as a failure.
if echo "$out" | grep -q "vmigd.service"; then
  echo "$out"
  exit 1
fi
sed -e "s|/run/vmigd/|$tmp/|g" "$src/deploy/vmigd.conf.example" > "$tmp/vmigd.conf"
"$build/control/server/vmigd" --check-config "$tmp/vmigd.conf" >/dev/null
echo "systemd unit and example configuration verified"
