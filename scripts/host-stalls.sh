#!/usr/bin/env bash
# How often this host takes a CPU away: on each CPU, pinned, a loop that
# only reads CLOCK_MONOTONIC counts the gaps between two reads longer than
# 1, 10 and 50 ms, for SECONDS (default 15). On a quiet host there are
# none over 10 ms; a shared VM whose vCPUs the hypervisor deschedules shows
# them (the 2-core AMD guest of 2026-12-07: 23 gaps over 50 ms in 15 s,
# the longest 105 ms), and timing figures taken there carry them.
# Usage: scripts/host-stalls.sh [SECONDS]
set -euo pipefail
secs=${1:-15}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/gaps.c" <<'C'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static int64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}
int main(int argc, char** argv) {
  const int64_t span = atoll(argv[1]) * 1000000000LL;
  int64_t start = now(), prev = start, t, longest = 0;
  int over1 = 0, over10 = 0, over50 = 0;
  while ((t = now()) - start < span) {
    const int64_t gap = t - prev;
    over1 += gap > 1000000;
    over10 += gap > 10000000;
    over50 += gap > 50000000;
    if (gap > longest) longest = gap;
    prev = t;
  }
  printf("gaps over 1 ms %d, over 10 ms %d, over 50 ms %d; longest %.1f ms\n",
         over1, over10, over50, longest / 1e6);
  return 0;
}
C
cc -O2 -o "$dir/gaps" "$dir/gaps.c"
for cpu in $(seq 0 $(($(nproc) - 1))); do
  taskset -c "$cpu" "$dir/gaps" "$secs" | sed "s/^/cpu $cpu: /" &
done
wait
