// The sender's retransmission timer against a peer that is slow, not
// lossy: an RTO asks for an ack before it resends, and an expiry the first
// ack shows was spurious (the original frame filled the hole, Eifel) is
// undone; RTTVAR remembers a delay spike for a round trip.
#include <cstdint>
#include <vector>

#include "dataplane/flow.h"
#include "dataplane/wire.h"
#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

// A frame's payload: opaque to the flow, which only holds the pointer.
struct Buf {
  std::vector<uint8_t> bytes;
};

// A sender with `n` frames in flight since t0, whose RTO fired: it asked
// for an ack, none came within another RTO, and the oldest frame went
// again at `expiry`.
struct TimedOut {
  FlowConfig config;
  SenderFlow sender{config};
  std::vector<Buf> bufs = std::vector<Buf>(8);
  int64_t t0 = 1'000'000'000, expiry = 0;
  double cwnd_before = 0;
  explicit TimedOut(int n = 8) {
    for (int i = 0; i < n; ++i) sender.Push(&bufs[i], 1000, false, t0);
    cwnd_before = sender.stats().cwnd;
    const int64_t first = t0 + config.initial_rto_ns + 1;
    EXPECT_TRUE(sender.DueRetransmits(first).empty());
    EXPECT_TRUE(sender.TakeAckRequest());
    EXPECT_FALSE(sender.TakeAckRequest());  // once per expiry
    expiry = first + config.initial_rto_ns + 1;
    auto due = sender.DueRetransmits(expiry);
    EXPECT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0]->seq, 0u);
    sender.MarkSent(*due[0], expiry);
  }
  AckPayload AckOfAll(uint64_t echo, uint32_t flags) {
    AckPayload a = {};
    a.cumulative = 8;
    a.window_end = config.window_bytes + 8000;
    a.echo_timestamp = echo;
    a.flags = flags;
    return a;
  }
};

void Forget(void*) {}

// The receiver was descheduled: the original frames arrive after the RTO,
// and the ack that covers the retransmitted frame echoes the original's
// timestamp. The window cut is undone.
TEST(SpuriousTimeoutTest, AnAckEchoingTheOriginalUndoesTheWindowCut) {
  TimedOut t;
  EXPECT_LT(t.sender.stats().cwnd, t.cwnd_before);  // cut by the RTO
  t.sender.OnAck(t.AckOfAll(t.t0, kAckEchoAdvanced), t.expiry + 1000, Forget);
  EXPECT_EQ(t.sender.stats().spurious_rtos, 1u);
  EXPECT_GE(t.sender.stats().cwnd, t.cwnd_before);
  EXPECT_EQ(t.sender.stats().rto_retransmits, 1u);
}

// The original was lost: its retransmission filled the hole, and the echo
// says so. The cut stands.
TEST(SpuriousTimeoutTest, AnAckEchoingTheRetransmissionKeepsTheCut) {
  TimedOut t;
  const uint32_t cut = t.sender.stats().cwnd;
  t.sender.OnAck(t.AckOfAll(t.expiry, kAckEchoAdvanced), t.expiry + 1000,
                 Forget);
  EXPECT_EQ(t.sender.stats().spurious_rtos, 0u);
  EXPECT_LE(t.sender.stats().cwnd, cut + 1);  // (additive increase only)
  EXPECT_LT(t.sender.stats().cwnd, t.cwnd_before);
}

// An echo that is not of the frame that filled the hole decides nothing.
TEST(SpuriousTimeoutTest, AnEchoOfAnotherFrameDecidesNothing) {
  TimedOut t;
  t.sender.OnAck(t.AckOfAll(t.t0, 0), t.expiry + 1000, Forget);
  EXPECT_EQ(t.sender.stats().spurious_rtos, 0u);
  EXPECT_LT(t.sender.stats().cwnd, t.cwnd_before);
}

// Acks not yet read (a full receive burst) hold the RTO back; once they are
// read and none came, it fires.
TEST(SpuriousTimeoutTest, UnreadAcksHoldTheRetransmissionTimerBack) {
  FlowConfig config;
  SenderFlow sender(config);
  Buf b;
  const int64_t t0 = 1'000'000'000;
  sender.Push(&b, 1000, false, t0);
  const int64_t late = t0 + config.initial_rto_ns + 1;
  EXPECT_TRUE(sender.DueRetransmits(late, /*may_time_out=*/false).empty());
  EXPECT_FALSE(sender.TakeAckRequest());
  EXPECT_TRUE(sender.DueRetransmits(late).empty());
  EXPECT_TRUE(sender.TakeAckRequest());
}

// An RTO expiry first asks the receiver for an ack. A receiver that was
// only descheduled answers with the frames it got: nothing is sent again.
TEST(AckRequestTest, AnAnswerShowingEveryFrameSendsNothingAgain) {
  FlowConfig config;
  SenderFlow sender(config);
  std::vector<Buf> bufs(4);
  const int64_t t0 = 1'000'000'000;
  for (Buf& b : bufs) sender.Push(&b, 1000, false, t0);
  const int64_t expiry = t0 + config.initial_rto_ns + 1;
  EXPECT_TRUE(sender.DueRetransmits(expiry).empty());
  ASSERT_TRUE(sender.TakeAckRequest());
  AckPayload a = {};
  a.cumulative = 4;
  a.window_end = config.window_bytes + 4000;
  a.echo_timestamp = t0;
  a.flags = kAckEchoAdvanced | kAckAnswersRequest;
  sender.OnAck(a, expiry + 1000, Forget);
  EXPECT_TRUE(
      sender.DueRetransmits(expiry + 10 * config.initial_rto_ns).empty());
  EXPECT_EQ(sender.stats().retransmits, 0u);
  EXPECT_EQ(sender.stats().ack_requests, 1u);
  EXPECT_EQ(sender.stats().requests_answered_whole, 1u);
  EXPECT_EQ(sender.stats().loss_events, 0u);
  EXPECT_TRUE(sender.Done() || sender.acked_offset() == 4000);
}

// The answer shows the oldest frame missing (the receiver read everything
// sent before the request): it goes again at once, without waiting
// another RTO.
TEST(AckRequestTest, AnAnswerShowingTheFrameMissingResendsItAtOnce) {
  FlowConfig config;
  SenderFlow sender(config);
  std::vector<Buf> bufs(4);
  const int64_t t0 = 1'000'000'000;
  for (Buf& b : bufs) sender.Push(&b, 1000, false, t0);
  const int64_t expiry = t0 + config.initial_rto_ns + 1;
  EXPECT_TRUE(sender.DueRetransmits(expiry).empty());
  ASSERT_TRUE(sender.TakeAckRequest());
  AckPayload a = {};
  a.cumulative = 0;  // frame 0 lost; 1-2 held
  a.window_end = config.window_bytes;
  a.echo_timestamp = t0;
  a.flags = kAckAnswersRequest;
  a.sack_count = 1;
  a.sacks[0] = {1, 3};  // (two: below the fast-retransmit threshold)
  sender.OnAck(a, expiry + 1000, Forget);
  auto due = sender.DueRetransmits(expiry + 2000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0]->seq, 0u);
  EXPECT_EQ(sender.stats().rto_retransmits, 1u);
}

// A delay spike raises RTTVAR at once, and the per-ack samples that follow
// bring it down at most once per smoothed RTT, so the spike is remembered
// for a while rather than for a fraction of a round trip.
TEST(SpuriousTimeoutTest, RttvarFallsAtMostOncePerRoundTrip) {
  FlowConfig config;
  SenderFlow sender(config);
  std::vector<Buf> bufs(200);
  int64_t now = 1'000'000'000;
  uint64_t seq = 0;
  auto sample = [&](int64_t rtt) {
    sender.Push(&bufs[seq % bufs.size()], 100, false, now - rtt);
    AckPayload a = {};
    a.cumulative = ++seq;
    a.window_end = config.window_bytes + seq * 100;
    a.echo_timestamp = static_cast<uint64_t>(now - rtt);
    sender.OnAck(a, now, Forget);
    now += 1000;  // samples 1 us apart: many per round trip
  };
  for (int i = 0; i < 20; ++i) sample(100'000);  // 100 us
  sample(40'000'000);                            // a 40 ms stall
  const int64_t after_spike = sender.stats().rto_ns;
  EXPECT_GT(after_spike, 40'000'000);
  for (int i = 0; i < 50; ++i) sample(100'000);  // within one smoothed RTT
  EXPECT_GT(sender.stats().rto_ns, after_spike / 2);
}

}  // namespace
}  // namespace vmig::dataplane
