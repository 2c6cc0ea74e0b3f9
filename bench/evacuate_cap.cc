#include "bench/evacuate_cap.h"

#include <algorithm>

namespace vmig::bench {

void JudgeCap(RunResult& run, const std::vector<bool>& busy, uint64_t cap) {
  const size_t n =
      std::min({run.wire.size(), run.cap_waits.size(), busy.size()});
  if (cap == 0 || n < 2) return;
  const double rate = static_cast<double>(cap);
  auto bytes = [&](size_t from, size_t to) {
    return static_cast<double>(run.wire[to].second - run.wire[from].second);
  };
  auto secs = [&](size_t from, size_t to) {
    return run.wire[to].first - run.wire[from].first;
  };
  // Sliding windows of at least a second, every sample in them busy.
  double worst_low = 1;
  size_t j = 0;  // the first sample of the current run of busy ones
  for (size_t k = 0; k < n; ++k) {
    if (!busy[k]) {
      j = k + 1;
      continue;
    }
    while (j + 1 < k && secs(j + 1, k) >= 1.0) ++j;
    if (k == j || secs(j, k) < 1.0) continue;
    const double r = bytes(j, k) / secs(j, k) / rate;
    run.cap_over = std::max(run.cap_over, r - 1);
    worst_low = std::min(worst_low, r);
    ++run.cap_windows;
  }
  run.cap_worst_under = std::max(0.0, 1 - worst_low);
  // The rate while the cap held the senders back.
  double held_bytes = 0, held_secs = 0;
  for (size_t k = 1; k < n; ++k) {
    if (!busy[k - 1] || !busy[k] || run.cap_waits[k] <= run.cap_waits[k - 1])
      continue;
    held_bytes += bytes(k - 1, k);
    held_secs += secs(k - 1, k);
  }
  run.cap_held_seconds = held_secs;
  if (held_secs > 0)
    run.cap_under = std::max(0.0, 1 - held_bytes / held_secs / rate);
  run.cap_error = std::max(run.cap_over, run.cap_under);
}

}  // namespace vmig::bench
