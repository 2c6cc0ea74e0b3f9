// The control side's hold on a stream's data session: a worker that stalls
// past the canceller's wait must never find its data session freed.
#include "dataplane/stream.h"

#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

// A data session that records when it is destroyed.
class TrackedSession final : public vfio::DataSession {
 public:
  explicit TrackedSession(bool* destroyed) : destroyed_(destroyed) {}
  ~TrackedSession() override { *destroyed_ = true; }
  absl::StatusOr<vfio::ReadResult> Read(absl::Span<uint8_t>) override {
    return absl::UnimplementedError("not read in this test");
  }
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t>) override {
    return absl::UnimplementedError("not written in this test");
  }
  absl::StatusOr<vfio::PrecopyInfo> GetPrecopyInfo() override {
    return absl::UnimplementedError("no pre-copy in this test");
  }
  int poll_fd() const override { return -1; }
  short ready_events() const override { return 0; }
  absl::Status SetNonBlocking(bool) override { return absl::OkStatus(); }

 private:
  bool* destroyed_;
};

std::shared_ptr<Stream> MakeStream(vfio::DataSession* data) {
  StreamSpec spec;
  spec.role = StreamRole::kSend;
  spec.protection = Protection::kNone;
  spec.data = data;
  absl::StatusOr<std::shared_ptr<Stream>> s = Stream::Create(spec);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

// A worker that took the stream and then stalled (here: never runs): the
// wait times out, and the data session handed to the stream lives until
// the worker finishes and releases the stream.
TEST(StreamTest, AStalledWorkersDataSessionLivesUntilItReleasesTheStream) {
  bool destroyed = false;
  auto data = std::make_unique<TrackedSession>(&destroyed);
  std::shared_ptr<Stream> s = MakeStream(data.get());
  ASSERT_NE(s, nullptr);
  s->MarkRunning();  // the worker has it
  std::unique_ptr<vfio::DataSession> session = std::move(data);
  EXPECT_FALSE(s->CancelAndWait(absl::Milliseconds(20), &session));
  EXPECT_TRUE(s->cancel_requested());
  EXPECT_FALSE(destroyed);
  // The transport holds the stream until the worker has released it.
  std::shared_ptr<Stream> transports_reference = s;
  s.reset();
  EXPECT_FALSE(destroyed);
  // The worker wakes, sees the flag, lets go.
  transports_reference->Finish(Stream::kCancelled);
  transports_reference->MarkReleased();
  EXPECT_FALSE(destroyed);
  transports_reference.reset();  // Transport::Reap
  EXPECT_TRUE(destroyed);
}

// A worker done with the stream: the wait says so at once and the caller
// may free the data session itself.
TEST(StreamTest, AFinishedStreamsWaitReturnsAtOnce) {
  bool destroyed = false;
  auto data = std::make_unique<TrackedSession>(&destroyed);
  std::shared_ptr<Stream> s = MakeStream(data.get());
  ASSERT_NE(s, nullptr);
  s->MarkRunning();
  s->Finish(Stream::kDone);
  EXPECT_TRUE(s->CancelAndWait(absl::Seconds(30)));
  EXPECT_FALSE(s->cancel_requested());  // nothing left to cancel
  data.reset();
  EXPECT_TRUE(destroyed);
}

// The control side sleeps until the worker takes the stream (a futex on
// its state), and is woken by it, not by a poll; a worker that never takes
// it leaves the wait to its timeout.
TEST(StreamTest, AWaitForTheWorkerToTakeTheStreamIsWokenByItOrTimesOut) {
  bool destroyed = false;
  auto data = std::make_unique<TrackedSession>(&destroyed);
  std::shared_ptr<Stream> s = MakeStream(data.get());
  ASSERT_NE(s, nullptr);
  const absl::Time t0 = absl::Now();
  EXPECT_FALSE(s->WaitTaken(absl::Milliseconds(30)));
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(30));
  EXPECT_EQ(s->state(), Stream::kPending);
  std::thread worker([&] {
    absl::SleepFor(absl::Milliseconds(50));
    s->MarkRunning();
  });
  // Woken by the worker, long before the timeout (unwoken, it would sleep
  // the whole minute).
  const absl::Time t1 = absl::Now();
  EXPECT_TRUE(s->WaitTaken(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - t1, absl::Seconds(30));
  EXPECT_EQ(s->state(), Stream::kRunning);
  worker.join();
  // Taken already: at once.
  EXPECT_TRUE(s->WaitTaken(absl::ZeroDuration()));
}

}  // namespace
}  // namespace vmig::dataplane
