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
  // Only a sample whose counter was read can end a window; one that was
  // not (a failed or stalled read) still counts for whether every session
  // was busy, which is known from the daemons.
  std::vector<size_t> read;
  for (size_t k = 0; k < n; ++k) {
    if (k >= run.wire_read.size() || run.wire_read[k]) read.push_back(k);
  }
  // last_idle[k]: the latest sample at or before k in which a session was
  // not busy (n: none). A window [j, k] is every session's when j is past
  // it.
  std::vector<size_t> last_idle(n, n);
  for (size_t k = 0; k < n; ++k) {
    if (!busy[k]) {
      last_idle[k] = k;
    } else if (k > 0) {
      last_idle[k] = last_idle[k - 1];
    }
  }
  auto all_busy = [&](size_t j, size_t k) {
    return busy[k] && (last_idle[k] == n || last_idle[k] < j);
  };
  // Sliding windows of at least a second between read samples.
  double worst_low = 1;
  size_t p = 0;  // index into `read` of the current window's start
  for (size_t q = 1; q < read.size(); ++q) {
    const size_t k = read[q];
    if (!busy[k]) continue;
    while (p < q && !all_busy(read[p], k)) ++p;
    while (p + 1 < q && secs(read[p + 1], k) >= 1.0) ++p;
    if (p >= q || secs(read[p], k) < 1.0) continue;
    const double r = bytes(read[p], k) / secs(read[p], k) / rate;
    run.cap_over = std::max(run.cap_over, r - 1);
    worst_low = std::min(worst_low, r);
    ++run.cap_windows;
  }
  run.cap_worst_under = std::max(0.0, 1 - worst_low);
  // The rate while the cap held the senders back: from one read sample to
  // the next, every session busy and the cap holding senders back.
  double held_bytes = 0, held_secs = 0;
  for (size_t q = 1; q < read.size(); ++q) {
    const size_t a = read[q - 1], b = read[q];
    if (!busy[a] || !all_busy(a, b) || run.cap_waits[b] <= run.cap_waits[a])
      continue;
    held_bytes += bytes(a, b);
    held_secs += secs(a, b);
  }
  run.cap_held_seconds = held_secs;
  if (held_secs > 0)
    run.cap_under = std::max(0.0, 1 - held_bytes / held_secs / rate);
  run.cap_error = std::max(run.cap_over, run.cap_under);
}

}  // namespace vmig::bench
