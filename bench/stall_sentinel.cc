#include "bench/stall_sentinel.h"

#include <unistd.h>

#include <algorithm>

#include "bench/pin_thread.h"

namespace vmig::bench {

StallSentinel::StallSentinel(absl::Duration threshold) : threshold_(threshold) {
  const long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  for (long cpu = 0; cpu < cpus; ++cpu)
    threads_.emplace_back([this, cpu] { Watch(static_cast<int>(cpu)); });
}

StallSentinel::~StallSentinel() {
  stop_.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads_) t.join();
}

void StallSentinel::Watch(int cpu) {
  // Unpinned, it still sees the stalls of whichever CPU it runs on.
  PinThisThreadTo(cpu);
  constexpr absl::Duration kTick = absl::Milliseconds(1);
  while (!stop_.load(std::memory_order_relaxed)) {
    const absl::Time before = absl::Now();
    absl::SleepFor(kTick);
    const absl::Time after = absl::Now();
    const absl::Duration late = after - before - kTick;
    if (late < threshold_) continue;
    absl::MutexLock lock(&mu_);
    if (stalls_.size() >= kMaxStalls) stalls_.erase(stalls_.begin());
    stalls_.emplace_back(after, late);
    ++count_;
  }
}

size_t StallSentinel::Count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

absl::Duration StallSentinel::LongestIn(absl::Time from, absl::Time to) const {
  absl::Duration longest;
  absl::MutexLock lock(&mu_);
  for (const auto& [ended, length] : stalls_) {
    if (ended >= from && ended - length <= to)
      longest = std::max(longest, length);
  }
  return longest;
}

}  // namespace vmig::bench
