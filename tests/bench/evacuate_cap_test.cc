// How vmig-bench evacuate judges a port's cap from its samples: a window
// over the cap is found, and a sample whose counter was not read (a failed
// or stalled read through the bridge's namespace) is no figure.
#include "bench/evacuate_cap.h"

#include "gtest/gtest.h"

namespace vmig::bench {
namespace {

constexpr uint64_t kCap = 100'000'000;  // bytes/s

// 3 s of samples every 100 ms, every one busy, the senders held by the cap
// (cap_waits grows) and sending exactly at it.
RunResult AtTheCap(std::vector<bool>* busy) {
  RunResult run;
  for (int k = 0; k <= 30; ++k) {
    const double t = 0.1 * k;
    run.wire.emplace_back(t, static_cast<uint64_t>(t * kCap));
    run.wire_read.push_back(true);
    run.cap_waits.push_back(static_cast<uint64_t>(k));
  }
  busy->assign(run.wire.size(), true);
  return run;
}

TEST(EvacuateCapTest, ASenderAtTheCapIsNeitherOverNorUnder) {
  std::vector<bool> busy;
  RunResult run = AtTheCap(&busy);
  JudgeCap(run, busy, kCap);
  EXPECT_GT(run.cap_windows, 10);
  EXPECT_NEAR(run.cap_over, 0, 1e-9);
  EXPECT_NEAR(run.cap_under, 0, 1e-9);
  EXPECT_NEAR(run.cap_held_seconds, 3.0, 1e-9);
}

TEST(EvacuateCapTest, AWindowOverTheCapIsFound) {
  std::vector<bool> busy;
  RunResult run = AtTheCap(&busy);
  // 50 MB more from 1.5 s on: the windows across 1.5 s are 50% over.
  for (size_t k = 15; k < run.wire.size(); ++k)
    run.wire[k].second += 50'000'000;
  JudgeCap(run, busy, kCap);
  EXPECT_NEAR(run.cap_over, 0.5, 0.06);
}

TEST(EvacuateCapTest, ASampleWhoseCounterWasNotReadIsLeftOut) {
  std::vector<bool> busy;
  RunResult run = AtTheCap(&busy);
  // A failed read records zero: counted, the windows that begin there
  // pass the cap by the whole counter.
  run.wire[12].second = 0;
  RunResult counted = run;
  JudgeCap(counted, busy, kCap);
  EXPECT_GT(counted.cap_over, 0.05);
  run.wire_read[12] = false;
  JudgeCap(run, busy, kCap);
  EXPECT_NEAR(run.cap_over, 0, 1e-9);
  EXPECT_NEAR(run.cap_under, 0, 1e-9);
  // It ends no window, and breaks none: the sessions were busy through it.
  EXPECT_EQ(run.cap_windows, counted.cap_windows - 1);
  EXPECT_NEAR(run.cap_held_seconds, 3.0, 1e-9);
}

TEST(EvacuateCapTest, ASampleInWhichASessionWasNotBusyBreaksTheWindows) {
  std::vector<bool> busy;
  RunResult run = AtTheCap(&busy);
  // Idle at 1.5 s, and 50 MB more after it: no window spans the idle
  // sample, so none sees the jump.
  busy[15] = false;
  for (size_t k = 15; k < run.wire.size(); ++k)
    run.wire[k].second += 50'000'000;
  JudgeCap(run, busy, kCap);
  EXPECT_NEAR(run.cap_over, 0, 1e-9);
  EXPECT_GT(run.cap_windows, 0);
}

}  // namespace
}  // namespace vmig::bench
