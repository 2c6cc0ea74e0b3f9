#!/bin/bash
# The three programs' command lines, all parsed by CLI11 (issue: what
# operators expect): --version on each, --help exits 0, an unknown flag is
# named (exit 2), a subcommand's help is its own and lists its options.
set -u
vmigd="$1" vmigctl="$2" bench="$3"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
for p in "$vmigd" "$vmigctl" "$bench"; do
  name=$(basename "$p")
  out=$("$p" --version 2>&1) || fail "$name --version exits $?"
  [[ "$out" =~ ^$name\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$name --version printed '$out'"
  "$p" --help >/dev/null 2>&1 || fail "$name --help exits non-zero"
  err=$("$p" --bogus 2>&1 >/dev/null)
  rc=$?
  [ "$rc" -eq 2 ] || fail "$name --bogus exits $rc, not 2"
  echo "$err" | grep -q -- "--bogus" || fail "$name --bogus does not name it: $err"
done
# Subcommands: their own help, with their options listed by the parser.
"$bench" sweep --help | grep -q -- "--repeat" || fail "vmig-bench sweep --help lists --repeat"
err=$("$bench" sweep --repeet 3 2>&1 >/dev/null)
[ $? -eq 2 ] && echo "$err" | grep -q "unknown option --repeet" ||
  fail "vmig-bench sweep --repeet: $err"
[ "$("$vmigctl" migrate start --help)" != "$("$vmigctl" migrate --help)" ] ||
  fail "vmigctl migrate start --help is its parent's"
"$vmigctl" migrate wait --help | grep -q -- "--for" || fail "migrate wait --help lists --for"
err=$("$vmigctl" --addr unix:///nonexistent.sock migrate start 2>&1 >/dev/null)
[ $? -eq 2 ] && echo "$err" | grep -q "SESSION is required" ||
  fail "migrate start without SESSION: $err"
err=$("$vmigd" --set 2>&1 >/dev/null)
[ $? -eq 2 ] && echo "$err" | grep -q -- "--set" || fail "vmigd --set without a value: $err"
[ $fails -eq 0 ] && echo "ok: command lines" || exit 1
