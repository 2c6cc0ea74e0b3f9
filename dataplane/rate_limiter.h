// A bandwidth cap that worker lcores share without a lock: a token bucket
// kept as GCRA's theoretical arrival time (TAT) in one atomic. A frame may
// leave when TAT is no later than now plus the burst tolerance; sending it
// moves TAT on by its length divided by the rate. Over any window T, at
// most rate * T + rate * tolerance + one frame leaves, which keeps a cap
// within 0.5% over one second. Several workers charge it with a CAS loop;
// the control thread changes the rate with a store. Nothing allocates.
//
// A port's cap (dataplane.ports.max_rate, a link shared with tenants) and
// a session's (StartMigrationRequest.max_bandwidth) are each one of these;
// a frame leaves only when both conform.
#ifndef VMIGD_DATAPLANE_RATE_LIMITER_H_
#define VMIGD_DATAPLANE_RATE_LIMITER_H_

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace vmig::dataplane {

class RateLimiter {
 public:
  // A worker may sleep up to 1 ms when it finds nothing to do: a tolerance
  // of 2 ms lets it catch up on waking without the average falling short.
  static constexpr int64_t kToleranceNs = 2'000'000;

  // 0: unlimited.
  explicit RateLimiter(uint64_t bytes_per_second = 0)
      : rate_(bytes_per_second) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Any thread. Takes effect for the next frame; a lower rate does not
  // claw back what was sent, a higher one does not grant a burst.
  void SetRate(uint64_t bytes_per_second) {
    rate_.store(bytes_per_second, std::memory_order_relaxed);
  }
  uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }
  bool limited() const { return rate() != 0; }

  // Whether a frame may leave at `now_ns` (CLOCK_MONOTONIC).
  bool Conforms(int64_t now_ns) const {
    return rate() == 0 ||
           tat_.load(std::memory_order_relaxed) <= now_ns + kToleranceNs;
  }
  // Accounts `bytes` sent at `now_ns` (a frame that conformed).
  void Charge(uint64_t bytes, int64_t now_ns) {
    const uint64_t rate = this->rate();
    if (rate == 0) return;
    // bytes <= 64 KiB, so bytes * 1e9 fits in 64 bits.
    const int64_t cost = static_cast<int64_t>(bytes * 1'000'000'000ull / rate);
    int64_t tat = tat_.load(std::memory_order_relaxed);
    // An idle bucket starts from now (no credit hoarded past the
    // tolerance, which is the burst allowed).
    while (!tat_.compare_exchange_weak(tat, std::max(tat, now_ns) + cost,
                                       std::memory_order_relaxed)) {
    }
  }
  // When a frame may next leave (for the idle back-off): 0 if it may now.
  int64_t WaitNs(int64_t now_ns) const {
    if (rate() == 0) return 0;
    return std::max<int64_t>(
        0, tat_.load(std::memory_order_relaxed) - kToleranceNs - now_ns);
  }

 private:
  std::atomic<uint64_t> rate_;
  std::atomic<int64_t> tat_{0};
};

// The caps a frame of a stream passes through (either may be null).
inline bool CapsConform(const RateLimiter* a, const RateLimiter* b,
                        int64_t now_ns) {
  return (!a || a->Conforms(now_ns)) && (!b || b->Conforms(now_ns));
}
inline void ChargeCaps(RateLimiter* a, RateLimiter* b, uint64_t bytes,
                       int64_t now_ns) {
  if (a) a->Charge(bytes, now_ns);
  if (b) b->Charge(bytes, now_ns);
}

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_RATE_LIMITER_H_
