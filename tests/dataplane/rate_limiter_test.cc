// The bandwidth cap the worker lcores share: what it lets through over a
// window, from several threads at once, and a rate changed mid-way.
#include "dataplane/rate_limiter.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// Offers a frame every `step_ns` of simulated time for `span_ns`; returns
// the bytes let through.
uint64_t Offer(RateLimiter& cap, int64_t start, int64_t span_ns,
               int64_t step_ns, uint32_t frame) {
  uint64_t sent = 0;
  for (int64_t t = start; t < start + span_ns; t += step_ns) {
    if (cap.Conforms(t)) {
      cap.Charge(frame, t);
      sent += frame;
    }
  }
  return sent;
}

TEST(RateLimiterTest, UnlimitedLetsEverythingThrough) {
  RateLimiter cap;
  EXPECT_FALSE(cap.limited());
  EXPECT_EQ(Offer(cap, kSecond, kSecond, 1000, 9000), 9000ull * 1'000'000);
  EXPECT_EQ(cap.WaitNs(kSecond), 0);
}

TEST(RateLimiterTest, AnySecondCarriesTheRateWithinOnePercent) {
  for (const uint32_t frame : {1500u, 9000u, 64000u}) {
    RateLimiter cap(50'000'000);  // 50 MB/s
    // Offered far faster than the cap (a frame every microsecond).
    const int64_t t0 = 10 * kSecond;
    for (int s = 0; s < 3; ++s) {
      const uint64_t sent = Offer(cap, t0 + s * kSecond, kSecond, 1000, frame);
      EXPECT_LE(static_cast<double>(sent), 50e6 * 1.01 + frame)
          << "frame " << frame << " second " << s;
      EXPECT_GE(static_cast<double>(sent), 50e6 * 0.97)
          << "frame " << frame << " second " << s;
    }
  }
}

TEST(RateLimiterTest, AnIdleBucketGrantsNoMoreThanItsTolerance) {
  RateLimiter cap(10'000'000);
  // Idle for a minute, then a flood: at most the tolerance's worth (2 ms
  // at 10 MB/s = 20 kB) plus one frame goes at once.
  uint64_t burst = 0;
  const int64_t t = 60 * kSecond;
  while (cap.Conforms(t)) {
    cap.Charge(9000, t);
    burst += 9000;
  }
  EXPECT_LE(burst, 20'000u + 2 * 9000u);
  EXPECT_GT(cap.WaitNs(t), 0);
}

TEST(RateLimiterTest, ARateChangedMidwayTakesEffectForTheNextFrames) {
  RateLimiter cap(10'000'000);
  const int64_t t0 = kSecond;
  const uint64_t slow = Offer(cap, t0, kSecond, 1000, 9000);
  cap.SetRate(40'000'000);
  const uint64_t fast = Offer(cap, t0 + kSecond, kSecond, 1000, 9000);
  EXPECT_NEAR(static_cast<double>(slow), 10e6, 0.03 * 10e6);
  EXPECT_NEAR(static_cast<double>(fast), 40e6, 0.03 * 40e6);
  cap.SetRate(0);  // lifted
  EXPECT_TRUE(cap.Conforms(t0 + 2 * kSecond));
}

TEST(RateLimiterTest, WorkersSharingACapTogetherKeepIt) {
  // Four threads (the worker lcores of one port) charge one cap on one
  // simulated timeline; together they get the rate, not four times it.
  RateLimiter cap(100'000'000);
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      total += Offer(cap, kSecond + w * 250, kSecond, 1000, 9000);
    });
  }
  for (auto& t : workers) t.join();
  // Threads run one after another or interleaved: either way, what went
  // through is bounded by the rate over the span plus the tolerance (and
  // one frame per thread for the check-then-charge race).
  EXPECT_LE(static_cast<double>(total.load()), 100e6 * 1.01 + 4 * 9000);
  EXPECT_GE(static_cast<double>(total.load()), 100e6 * 0.95);
}

TEST(RateLimiterTest, BothCapsMustConform) {
  RateLimiter port(100'000'000), session(10'000'000);
  uint64_t sent = 0;
  for (int64_t t = kSecond; t < 2 * kSecond; t += 1000) {
    if (CapsConform(&port, &session, t)) {
      ChargeCaps(&port, &session, 9000, t);
      sent += 9000;
    }
  }
  EXPECT_NEAR(static_cast<double>(sent), 10e6, 0.03 * 10e6);
  EXPECT_TRUE(CapsConform(nullptr, nullptr, 0));
}

}  // namespace
}  // namespace vmig::dataplane
