// Notices the host taking a CPU away. On a shared VM a vCPU is descheduled
// by the hypervisor for 50-100 ms at a time, a few times a second on a bad
// host (a spinning loop on an idle 2-vCPU AMD guest saw 23 such gaps in
// 15 s, the longest 105 ms): a downtime measured across one says nothing
// of the model that predicted it. A thread per CPU, pinned, sleeps 1 ms at
// a time and records every wake-up that came `threshold` late.
#ifndef VMIGD_BENCH_STALL_SENTINEL_H_
#define VMIGD_BENCH_STALL_SENTINEL_H_

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vmig::bench {

class StallSentinel {
 public:
  explicit StallSentinel(absl::Duration threshold = absl::Milliseconds(20));
  ~StallSentinel();
  StallSentinel(const StallSentinel&) = delete;
  StallSentinel& operator=(const StallSentinel&) = delete;

  // The longest stall that overlapped [from, to] (wall clock), zero if none.
  absl::Duration LongestIn(absl::Time from, absl::Time to) const;
  // Stalls seen since it started.
  size_t Count() const;

 private:
  void Watch(int cpu);

  const absl::Duration threshold_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  // (when it ended, how long it lasted); the newest kMaxStalls.
  std::vector<std::pair<absl::Time, absl::Duration>> stalls_
      ABSL_GUARDED_BY(mu_);
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  static constexpr size_t kMaxStalls = 4096;
};

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_STALL_SENTINEL_H_
