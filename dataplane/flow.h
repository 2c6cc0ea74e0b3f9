// Per-stream reliability, independent of DPDK: sequence numbers, cumulative
// and selective acks, adaptive RTO whose spurious expiries (a receiver that
// was descheduled, not a loss) are detected from echoed timestamps and
// undone (Eifel, RFC 3522/4015), fast retransmission of SACK holes,
// receiver credits that bound buffering, and a congestion window that grows
// additively and shrinks on loss and on queueing delay.
// Buffers are opaque handles (mbufs in the data plane, anything in tests).
#ifndef VMIGD_DATAPLANE_FLOW_H_
#define VMIGD_DATAPLANE_FLOW_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dataplane/wire.h"

namespace vmig::dataplane {

// Gives a buffer back (an mbuf to its pool). A reference to the caller's
// callable: nothing is allocated per call.
using Release = absl::FunctionRef<void(void*)>;

// Frames a flow keeps outstanding at most, out-of-order frames a receiver
// holds at most: the receiver's ring, indexed by sequence number. It covers
// the sender's largest congestion window (FlowConfig::max_cwnd).
inline constexpr uint32_t kFlowSlots = 4096;

struct FlowConfig {
  uint64_t window_bytes = 8 << 20;  // receiver credit per stream
  uint32_t initial_cwnd = 64;       // frames
  uint32_t min_cwnd = 8;
  uint32_t max_cwnd = 4096;
  // 5 ms: a peer on a shared host is descheduled for milliseconds at a
  // time (two pollers on two cores expire a 2 ms RTO a few times a second
  // without a loss); a loss with frames behind it is repaired from SACKs
  // long before, so only a lost tail waits this long.
  int64_t min_rto_ns = 5'000'000;
  int64_t max_rto_ns = 1'000'000'000;
  int64_t initial_rto_ns = 20'000'000;
  uint32_t dup_threshold = 3;  // SACKed frames above a hole before it is lost
  // Queueing delay the window may build above the smallest RTT seen before
  // it shrinks (0: react to loss only). A link that never drops, such as
  // memif, otherwise fills its rings up to the credit window: a RTT of 4 ms
  // and 32 MiB in flight at 8 GB/s, which evicts the in-flight frames from
  // the CPU cache and leaves a retransmission timer little margin.
  int64_t target_queue_delay_ns = 500'000;
};

struct SenderStats {
  uint64_t frames_sent = 0, bytes_sent = 0;
  uint64_t retransmits = 0, rto_retransmits = 0, fast_retransmits = 0;
  uint64_t loss_events = 0;
  // RTO expiries that the first ack after them showed were not losses (the
  // original frame, not its retransmission, filled the hole): their window
  // cut and backoff undone.
  uint64_t spurious_rtos = 0;
  // RTO expiries answered with an ack request (kAckRequest); of those, the
  // ones whose answer showed nothing lost (no frame sent again).
  uint64_t ack_requests = 0, requests_answered_whole = 0;
  uint64_t delay_decreases = 0;  // window cuts for queueing delay
  int64_t min_rtt_ns = 0;
  uint64_t acks = 0, stale_acks = 0;
  int64_t srtt_ns = 0, rttvar_ns = 0, rto_ns = 0;
  uint32_t cwnd = 0;
  uint64_t in_flight_bytes = 0;
  uint64_t acked_bytes = 0;  // stream bytes the peer has written
};

// The base RTT of a path: the smallest RTT sample, over epochs of
// kMinRttEpoch samples so that a path that got slower for good is learned
// again. Flows that share a bottleneck share it: a flow that judges its
// queueing delay against a base of its own is unfair to the others. One
// that started on an empty queue learns a low base and keeps cutting; one
// that started behind a queue takes the queue for its base and never does
// (the latecomer advantage of delay-based windows, as in TCP Vegas and
// LEDBAT). Seen with 8 streams on one memif link: the first four cut their
// windows to about 20 frames, the last four kept 60, and the first four
// finished 40 ms after the others.
class PathBaseRtt {
 public:
  // Takes a sample; returns the base to judge it against.
  int64_t Sample(int64_t rtt_ns) {
    constexpr uint32_t kMinRttEpoch = 4096;
    epoch_min_ns_ = std::min(epoch_min_ns_, rtt_ns);
    min_ns_ = std::min(min_ns_, rtt_ns);
    if (++epoch_samples_ == kMinRttEpoch) {
      min_ns_ = epoch_min_ns_;
      epoch_min_ns_ = INT64_MAX;
      epoch_samples_ = 0;
    }
    return min_ns_;
  }

 private:
  int64_t min_ns_ = INT64_MAX, epoch_min_ns_ = INT64_MAX;
  uint32_t epoch_samples_ = 0;
};

class SenderFlow {
 public:
  struct Frame {
    uint64_t seq = 0, offset = 0;
    uint32_t len = 0;
    bool eos = false;
    bool sacked = false;
    uint8_t transmissions = 0;
    int64_t last_sent_ns = 0;
    void* buf = nullptr;  // owned until acked
  };

  explicit SenderFlow(const FlowConfig& config);
  SenderFlow(const SenderFlow&) = delete;
  SenderFlow& operator=(const SenderFlow&) = delete;
  // From now on the flow judges queueing delay against `base`, which the
  // flows that share its bottleneck also feed; it must outlive the flow's
  // acks. Null: its own again.
  void SharePath(PathBaseRtt* base) { base_ = base ? base : &own_base_; }

  // Room for a new frame of `len` bytes: credit, congestion window, and a
  // slot (at most kFlowSlots frames unacked, sacked ones included: the
  // receiver refuses a frame further ahead than its ring).
  bool CanSend(uint32_t len) const;
  // Registers a new frame (the caller transmits it). Returns it.
  Frame& Push(void* buf, uint32_t len, bool eos, int64_t now);
  // Marks a (re)transmission.
  void MarkSent(Frame& f, int64_t now);

  // Applies an ack; frames it covers are released through `release`.
  void OnAck(const AckPayload& ack, int64_t now, Release release);
  // Frames to send again now: SACK holes past the dup threshold, and the
  // oldest frame when the RTO fired. Each is returned once per RTO.
  // `may_time_out` false (the caller has acks it has not read yet) holds
  // the RTO back: they may show the frames arrived. Oldest first; valid
  // until the next call (the flow's own array: nothing is allocated).
  absl::Span<Frame* const> DueRetransmits(int64_t now,
                                          bool may_time_out = true);
  // The RTO expired: send the receiver a kAckRequest now (true once per
  // expiry). The oldest frame goes again only if the answer shows it
  // missing, or no answer comes within another RTO.
  bool TakeAckRequest() {
    const bool r = request_pending_;
    request_pending_ = false;
    return r;
  }
  // The stream's last byte and its end were written by the peer.
  bool Done() const { return eos_pushed_ && frames_.empty(); }
  uint64_t next_offset() const { return next_offset_; }
  uint64_t acked_offset() const { return acked_offset_; }
  uint64_t window_end() const { return window_end_; }
  const SenderStats& stats() const { return stats_; }
  // Releases every buffer still held (teardown).
  void ReleaseAll(Release release);

 private:
  // The unacked frames, by seq (front = snd_una), in a ring allocated once.
  class FrameRing {
   public:
    FrameRing() : slots_(kFlowSlots) {}
    bool empty() const { return size_ == 0; }
    uint32_t size() const { return size_; }
    bool full() const { return size_ == kFlowSlots; }
    Frame& operator[](uint32_t i) {
      return slots_[(head_ + i) & (kFlowSlots - 1)];
    }
    Frame& front() { return (*this)[0]; }
    const Frame& front() const { return slots_[head_ & (kFlowSlots - 1)]; }
    Frame& back() { return (*this)[size_ - 1]; }
    // The caller checks full() first (CanSend does).
    void push_back(const Frame& f) { (*this)[size_++] = f; }
    void pop_front() {
      ++head_;
      --size_;
    }
    void clear() { head_ = size_ = 0; }

   private:
    std::vector<Frame> slots_;
    uint32_t head_ = 0, size_ = 0;
  };

  void OnRttSample(int64_t rtt_ns, int64_t now);
  // After an RTO: whether this ack shows it was spurious; undoes it if so.
  void CheckSpuriousTimeout(const AckPayload& ack);
  void OnLoss(int64_t now);
  // Delay-based decrease; true if the sample shows a queue above target.
  bool OnQueueDelay(int64_t rtt_ns, int64_t now);

  const FlowConfig config_;
  FrameRing frames_;
  // DueRetransmits' answer: at most every frame, so never grown.
  std::vector<Frame*> due_;
  uint64_t next_seq_ = 0, next_offset_ = 0, acked_offset_ = 0;
  uint64_t window_end_;
  uint64_t in_flight_bytes_ = 0;  // sent, not acked or sacked
  uint32_t in_flight_frames_ = 0;
  uint32_t sacked_frames_ = 0;  // in frames_, so holes exist only if > 0
  double cwnd_;
  uint64_t recovery_until_seq_ = 0;  // one window decrease per loss episode
  bool eos_pushed_ = false;
  int64_t rto_ns_;
  bool have_rtt_ = false;
  // The base RTT: the flow's own, or its path's (SharePath).
  PathBaseRtt own_base_;
  PathBaseRtt* base_ = &own_base_;
  int64_t last_delay_decrease_ns_ = 0;
  // RTTVAR falls at most once per smoothed RTT: samples come with every
  // ack, many per round trip, and would otherwise forget a delay spike
  // (a descheduled peer) within a fraction of it (Linux's mdev_max rule).
  int64_t last_rttvar_decrease_ns_ = 0;
  // What an RTO changed, to undo if it proves spurious: set at the first
  // expiry of a loss episode, until the ack that covers `seq`.
  struct RtoUndo {
    bool armed = false;
    uint64_t seq = 0;              // the frame retransmitted
    int64_t retransmitted_ns = 0;  // its first retransmission's timestamp
    double cwnd = 0;
    int64_t rto_ns = 0;
    uint64_t recovery_until_seq = 0;
  } rto_undo_;
  // An RTO expiry asked the receiver for an ack (at requested_ns) about the
  // frame `requested_seq`; the answer decides whether it goes again.
  bool request_pending_ = false, requesting_ = false;
  bool request_says_lost_ = false;
  uint64_t requested_seq_ = 0;
  int64_t requested_ns_ = 0;
  SenderStats stats_;
};

struct ReceiverStats {
  uint64_t frames = 0, bytes = 0, duplicates = 0, out_of_window = 0;
  uint64_t delivered_bytes = 0;
  uint64_t buffered_bytes = 0, max_buffered_bytes = 0;
};

class ReceiverFlow {
 public:
  enum class Verdict { kAccepted, kDuplicate, kOutOfWindow };
  // Writes payload bytes [from, len) of the frame in `buf` (at stream
  // offset `offset`) and returns how many it wrote: fewer than asked means
  // the device pushes back, and the rest waits for the next call.
  using Deliver = absl::FunctionRef<absl::StatusOr<uint32_t>(
      void* buf, uint64_t offset, uint32_t from, uint32_t len)>;

  // Out-of-order frames wait in a ring of this many slots, indexed by
  // sequence number: a frame further ahead than that is out of window.
  static constexpr uint32_t kRingSlots = kFlowSlots;

  // The ring is allocated here, once: the worker never allocates per frame.
  explicit ReceiverFlow(const FlowConfig& config);

  // Takes a data frame. kAccepted: the flow owns `buf` now; otherwise the
  // caller still does. Frames beyond the credit are refused, and so is an
  // empty frame that does not end the stream.
  Verdict OnData(uint64_t seq, uint64_t offset, uint32_t len, bool eos,
                 void* buf);
  // Writes in-order frames through `deliver` until it pushes back, and
  // releases each fully written frame's buffer through `release`. Stops at
  // the first error. A frame whose offset does not follow its
  // predecessor's is a protocol error: DataLoss.
  absl::Status DeliverInOrder(Deliver deliver, Release release);
  AckPayload MakeAck(uint64_t echo_timestamp, uint32_t flags = 0) const;
  bool complete() const { return complete_; }
  // The sequence number it waits for: a frame carrying it fills the hole
  // at the cumulative ack.
  uint64_t next_seq() const { return next_seq_; }
  // A frame in order waits for the device to take it.
  bool backlogged() const { return Slot(next_seq_).buf != nullptr; }
  const ReceiverStats& stats() const { return stats_; }
  void ReleaseAll(Release release);

 private:
  struct Held {
    uint64_t offset = 0;
    uint32_t len = 0;
    bool eos = false;
    void* buf = nullptr;  // null: the slot is free
  };
  Held& Slot(uint64_t seq) { return ring_[seq & (kRingSlots - 1)]; }
  const Held& Slot(uint64_t seq) const { return ring_[seq & (kRingSlots - 1)]; }

  const FlowConfig config_;
  std::vector<Held> ring_;
  uint64_t held_frames_ = 0;
  uint64_t highest_held_ = 0;  // valid while held_frames_ > 0
  uint64_t next_seq_ = 0, next_offset_ = 0;
  uint32_t head_written_ = 0;  // bytes of frame next_seq_ already written
  bool complete_ = false;
  ReceiverStats stats_;
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_FLOW_H_
