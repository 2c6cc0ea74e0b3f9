# Sourced by the tests that judge a vmig-bench command by its last line
# (JSON, in $json): `check EXPR WHAT` holds the Python expression EXPR over
# that JSON (as j), prints "ok: WHAT" or "FAIL: WHAT", and sets fail=1 on
# a failure.
fail=0
check() {
  if python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($1) else 1)" "$json"; then
    echo "ok: $2"
  else
    echo "FAIL: $2"
    fail=1
  fi
}
