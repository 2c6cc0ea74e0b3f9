// The arc pool: n calls run at once (a barrier across them is reached),
// its threads are started once and reused, never more than n - 1, and
// callers from several threads take turns.
#include "vfio/arc_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"

namespace vmig::vfio {
namespace {

// Waits (at most 10 s) until `n` callers have arrived; true if they all did.
class Meeting {
 public:
  explicit Meeting(size_t n) : n_(n) {}
  bool Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    if (++arrived_ == n_) cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(10),
                        [this] { return arrived_ >= n_; });
  }

 private:
  const size_t n_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t arrived_ = 0;
};

TEST(ArcPoolTest, EveryCallRunsAtOnceSoABarrierAcrossThemIsReached) {
  ArcPool pool;
  constexpr size_t kN = 8;
  Meeting meeting(kN);
  std::atomic<int> met{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  pool.ParallelFor(kN, [&](size_t) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    if (meeting.Arrive()) met++;
  });
  EXPECT_EQ(met.load(), static_cast<int>(kN));
  EXPECT_EQ(threads.size(), kN);  // the caller's and the pool's 7
  EXPECT_TRUE(threads.count(std::this_thread::get_id()));
  EXPECT_EQ(pool.threads(), kN - 1);
}

TEST(ArcPoolTest, ThreadsAreStartedOnceAndReusedByEveryLaterCall) {
  ArcPool pool;
  std::atomic<size_t> calls{0};
  std::vector<int> seen(4);
  for (int round = 0; round < 200; ++round) {
    std::fill(seen.begin(), seen.end(), 0);
    pool.ParallelFor(4, [&](size_t i) {
      seen[i]++;
      calls++;
    });
    for (int s : seen) ASSERT_EQ(s, 1) << "round " << round;
  }
  EXPECT_EQ(calls.load(), 800u);
  EXPECT_EQ(pool.threads(), 3u);
  pool.ParallelFor(2, [&](size_t) { calls++; });  // fewer: no new thread
  EXPECT_EQ(pool.threads(), 3u);
}

// The threads a barrier needs can be started before it, and the barrier
// then starts none.
TEST(ArcPoolTest, ReservedThreadsServeTheFirstBarrierWhichStartsNone) {
  ArcPool pool;
  pool.Reserve(1);
  EXPECT_EQ(pool.threads(), 0u);
  pool.Reserve(5);
  EXPECT_EQ(pool.threads(), 4u);
  pool.Reserve(3);  // fewer: none stopped, none started
  EXPECT_EQ(pool.threads(), 4u);
  std::atomic<int> calls{0};
  pool.ParallelFor(5, [&](size_t) { calls++; });
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(pool.threads(), 4u);
}

TEST(ArcPoolTest, NoWorkAndOneCallStartNoThread) {
  ArcPool pool;
  int ran = 0;
  pool.ParallelFor(0, [&](size_t) { ran++; });
  pool.ParallelFor(1, [&](size_t i) { ran += 1 + static_cast<int>(i); });
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(ArcPoolTest, CallersFromSeveralThreadsTakeTurnsAndEachGetsItsCalls) {
  ArcPool pool;
  constexpr int kCallers = 4, kRounds = 50;
  std::atomic<int> inside{0}, most{0};
  std::vector<std::atomic<int>> per_caller(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int r = 0; r < kRounds; ++r) {
        pool.ParallelFor(3, [&](size_t) {
          const int now = ++inside;
          int m = most.load();
          while (now > m && !most.compare_exchange_weak(m, now)) {
          }
          per_caller[c]++;
          --inside;
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c)
    EXPECT_EQ(per_caller[c].load(), 3 * kRounds);
  EXPECT_LE(most.load(), 3);  // one job at a time
  EXPECT_EQ(pool.threads(), 2u);
}

}  // namespace
}  // namespace vmig::vfio
