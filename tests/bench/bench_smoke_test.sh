#!/usr/bin/env bash
# The benchmark tools run end to end and verify every migration they make.
# Figures are not asserted here (the machine is shared and noisy): they are
# for people, and docs/benchmarks.md says how to read them.
set -uo pipefail
bench=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

"$bench" sweep --devices 1,2 --state 8MiB,16MiB --dirty 0,16MiB/s --out "$out/sweep" || fail=1
check '[ -s "$out/sweep/sweep.json" ] && [ -s "$out/sweep/sweep.csv" ]' "JSON and CSV written"
check 'grep -q "largest state per device" "$out/sweep/budget.txt"' "budget table written"
check '! grep -q "\"verified\":false" "$out/sweep/sweep.json"' "every sweep point verified"
check '[ "$(grep -c ",true$" "$out/sweep/sweep.csv")" -eq 16 ]' "16 points, all verified"
for p in downtime_vs_devices downtime_vs_state downtime_vs_dirty; do
  check '[ -s "$out/sweep/$p.svg" ] && [ -s "$out/sweep/$p.png" ]' "plot $p (SVG and PNG)"
done

# The other grid dimensions: worker lcores (the daemons restart for each),
# budget, device read rate.
"$bench" sweep --devices 2 --state 8MiB --workers 1,2 --budget 100,300 \
  --read-bw 1GiB/s,512MiB/s --schedule parallel --out "$out/grid" || fail=1
check '[ "$(grep -c ",true$" "$out/grid/sweep.csv")" -eq 8 ]' "8 grid points, all verified"
check '[ "$(cut -d, -f7 "$out/grid/sweep.csv" | sort -u | tr "\n" " ")" = "1 2 workers " ]' \
  "points with 1 and 2 workers"
check '[ -s "$out/grid/downtime_vs_workers.svg" ]' "plot against worker lcores"

"$bench" sweep --preset qemu-anchor --out "$out/anchor" || fail=1
check 'grep -q "qemu_multifd_ms" "$out/anchor/anchor.json"' "anchor comparison written"

json=$("$bench" downtime --devices 4 --state 16MiB --runs 2 --read-ahead 4MiB | tail -n 1)
echo "$json"
check 'echo "$json" | grep -q "\"verified\":true"' "downtime benchmark verified"
check 'echo "$json" | grep -q "\"lower_bound_ms\":"' "downtime benchmark reports its lower bound"
check 'echo "$json" | grep -qE "\"ratio_min\":[0-9.]+,\"ratio_max\":[0-9.]+"' "downtime benchmark reports the range of its ratios"
check 'echo "$json" | grep -q "\"read_ahead_bytes\":4194304"' "the devices' read-ahead reached the bench"
# The transport's baselines, like against like: plain TCP and TCP with TLS
# 1.3 AES-256-GCM (as multifd with TLS), each verified, and the ratio.
json=$("$bench" transport --streams 2 --bytes 64MiB | tail -n 1)
echo "$json"
check 'echo "$json" | grep -q "\"tcp_tls_verified\":true"' "the TCP+TLS baseline carried every byte"
check 'echo "$json" | grep -qE "\"tcp_tls_gbytes_per_s\":(0\.0*[1-9]|[1-9])"' "the TCP+TLS baseline has a rate"
check 'echo "$json" | grep -qE "\"vs_like\":[0-9]"' "the encrypted transport's ratio to TCP+TLS"
# On memif, the one-copy pipeline ceiling in the same run, verified, and
# the unprotected transport's share of it.
check 'echo "$json" | grep -q "\"ceiling_verified\":true"' "the pipeline ceiling carried every byte"
check 'echo "$json" | grep -qE "\"ceiling_gbytes_per_s\":(0\.0*[1-9]|[1-9])"' "the pipeline ceiling has a rate"
check 'echo "$json" | grep -qE "\"vs_ceiling\":(0\.0*[1-9]|[1-9])"' "the transport's share of the ceiling"
# Every micro-benchmark runs in one command and states its throughput.
micro=$(dirname "$bench")/vmig_micro_bench
lines=$("$micro" --benchmark_min_time=0.01 2>&1 | grep '^BM_')
echo "$lines"
check '[ "$(echo "$lines" | wc -l)" -ge 14 ]' "all micro-benchmarks ran"
check '! echo "$lines" | grep -q "ERROR OCCURRED"' "no micro-benchmark failed"
check '! echo "$lines" | grep -vqE "bytes_per_second|items_per_second|vs_memcpy"' \
  "every micro-benchmark reports bytes or items per second"
exit $fail
