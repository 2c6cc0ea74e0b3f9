// The source's line for limits.max_outgoing_sessions and the destination's
// for max_incoming_sessions: order, places, cancels and forgetting.
#include "daemon/admission_queue.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "daemon/session/incoming_line.h"
#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

TEST(AdmissionQueueTest, NoLimitNeverQueues) {
  AdmissionQueue q(0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(q.Join(std::to_string(i)), 0u);
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(AdmissionQueueTest, PastTheLimitSessionsWaitAndStartInOrder) {
  AdmissionQueue q(1);
  EXPECT_EQ(q.Join("a"), 0u);
  EXPECT_EQ(q.Join("b"), 1u);
  EXPECT_EQ(q.Join("c"), 2u);
  std::atomic<int> order{0};
  int b_at = -1, c_at = -1;
  std::thread tc([&] {
    ASSERT_TRUE(q.Wait(
                     "c", [] { return false; }, [](size_t) {})
                    .ok());
    c_at = order++;
    q.Leave("c");
  });
  std::thread tb([&] {
    ASSERT_TRUE(q.Wait(
                     "b", [] { return false; }, [](size_t) {})
                    .ok());
    b_at = order++;
    q.Leave("b");
  });
  q.Leave("a");
  tb.join();
  tc.join();
  EXPECT_EQ(b_at, 0);
  EXPECT_EQ(c_at, 1);
  EXPECT_EQ(q.running(), 0u);
}

TEST(AdmissionQueueTest, ACancelledWaiterLeavesAndTheNextMovesUp) {
  AdmissionQueue q(1);
  ASSERT_EQ(q.Join("a"), 0u);
  ASSERT_EQ(q.Join("b"), 1u);
  ASSERT_EQ(q.Join("c"), 2u);
  std::atomic<bool> cancel_b{false};
  std::atomic<size_t> c_place{0};
  absl::Notification c_first;
  std::thread tb([&] {
    EXPECT_EQ(q.Wait(
                   "b", [&] { return cancel_b.load(); }, [](size_t) {})
                  .code(),
              absl::StatusCode::kCancelled);
  });
  std::thread tc([&] {
    EXPECT_TRUE(q.Wait(
                     "c", [] { return false; },
                     [&](size_t p) {
                       c_place = p;
                       if (p == 2 && !c_first.HasBeenNotified())
                         c_first.Notify();
                     })
                    .ok());
  });
  c_first.WaitForNotification();
  cancel_b = true;
  q.Wake();
  tb.join();
  // c is next now; it starts when a leaves.
  for (int i = 0; i < 500 && c_place != 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c_place.load(), 1u);
  EXPECT_EQ(q.PlaceOf("c"), 1u);
  q.Leave("a");
  tc.join();
  EXPECT_EQ(q.running(), 1u);
}

TEST(IncomingLineTest, SourcesPastTheLimitGetTheirPlaceInTheOrderTheyAsked) {
  IncomingLine line(1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  absl::flat_hash_set<std::string> live = {"a", "b", "c"};
  EXPECT_EQ(line.Ask("a", t0, live), 0u);
  EXPECT_EQ(line.Ask("b", t0, live), 1u);
  EXPECT_EQ(line.Ask("c", t0, live), 2u);
  EXPECT_EQ(line.Ask("b", t0 + absl::Milliseconds(200), live), 1u);
  // A lost answer: a asks again and still holds its slot.
  EXPECT_EQ(line.Ask("a", t0, live), 0u);
  // a ends: b, first in line, is let in; c stays behind it.
  live.erase("a");
  EXPECT_EQ(line.Ask("c", t0 + absl::Milliseconds(300), live), 1u);
  EXPECT_EQ(line.Ask("b", t0 + absl::Milliseconds(400), live), 0u);
  EXPECT_EQ(line.Ask("c", t0 + absl::Milliseconds(500), live), 1u);
}

TEST(IncomingLineTest, ASourceThatStopsAskingLosesItsPlace) {
  IncomingLine line(1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  absl::flat_hash_set<std::string> live = {"a", "b", "c"};
  ASSERT_EQ(line.Ask("a", t0, live), 0u);
  ASSERT_EQ(line.Ask("b", t0, live), 1u);
  ASSERT_EQ(line.Ask("c", t0, live), 2u);
  // b went quiet (cancelled at its source): past kForget c is next.
  const absl::Time later = t0 + IncomingLine::kForget + absl::Seconds(1);
  EXPECT_EQ(line.Ask("c", later, live), 1u);
  live.erase("a");
  EXPECT_EQ(line.Ask("c", later, live), 0u);
}

TEST(IncomingLineTest, AReleasedSlotGoesToTheNext) {
  IncomingLine line(1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  absl::flat_hash_set<std::string> live = {"a", "b"};
  ASSERT_EQ(line.Ask("a", t0, live), 0u);
  ASSERT_EQ(line.Ask("b", t0, live), 1u);
  line.Release("a");  // its handshake failed
  EXPECT_EQ(line.Ask("b", t0, live), 0u);
}

}  // namespace
}  // namespace vmig::daemon
