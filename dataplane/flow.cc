#include "dataplane/flow.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace vmig::dataplane {

SenderFlow::SenderFlow(const FlowConfig& config)
    : config_(config),
      window_end_(config.window_bytes),
      cwnd_(config.initial_cwnd),
      rto_ns_(config.initial_rto_ns) {
  due_.reserve(kFlowSlots);
  stats_.cwnd = config.initial_cwnd;
  stats_.rto_ns = rto_ns_;
}

bool SenderFlow::CanSend(uint32_t len) const {
  if (eos_pushed_ || frames_.full()) return false;
  return next_offset_ + len <= window_end_ &&
         in_flight_frames_ < static_cast<uint32_t>(cwnd_);
}

SenderFlow::Frame& SenderFlow::Push(void* buf, uint32_t len, bool eos,
                                    int64_t now) {
  Frame f;
  f.seq = next_seq_++;
  f.offset = next_offset_;
  f.len = len;
  f.eos = eos;
  f.buf = buf;
  next_offset_ += len;
  eos_pushed_ = eos_pushed_ || eos;
  frames_.push_back(f);
  ++in_flight_frames_;
  in_flight_bytes_ += len;
  MarkSent(frames_.back(), now);
  return frames_.back();
}

void SenderFlow::MarkSent(Frame& f, int64_t now) {
  if (f.transmissions > 0) ++stats_.retransmits;
  ++f.transmissions;
  f.last_sent_ns = now;
  ++stats_.frames_sent;
  stats_.bytes_sent += f.len;
}

void SenderFlow::OnRttSample(int64_t rtt, int64_t now) {
  // RFC 6298, with RTTVAR's decreases spaced a smoothed RTT apart.
  if (!have_rtt_) {
    stats_.srtt_ns = rtt;
    stats_.rttvar_ns = rtt / 2;
    have_rtt_ = true;
  } else {
    const int64_t var =
        (3 * stats_.rttvar_ns + std::llabs(stats_.srtt_ns - rtt)) / 4;
    if (var >= stats_.rttvar_ns) {
      stats_.rttvar_ns = var;
    } else if (now - last_rttvar_decrease_ns_ >= stats_.srtt_ns) {
      stats_.rttvar_ns = var;
      last_rttvar_decrease_ns_ = now;
    }
    stats_.srtt_ns = (7 * stats_.srtt_ns + rtt) / 8;
  }
  rto_ns_ = std::clamp<int64_t>(stats_.srtt_ns + 4 * stats_.rttvar_ns,
                                config_.min_rto_ns, config_.max_rto_ns);
  stats_.rto_ns = rto_ns_;
}

void SenderFlow::OnLoss(int64_t now) {
  // Multiplicative decrease, once per loss episode (until what was in
  // flight when the loss was seen is acked), so that a burst of losses
  // counts once and random loss does not collapse the window.
  if (!frames_.empty() && frames_.front().seq < recovery_until_seq_) return;
  ++stats_.loss_events;
  cwnd_ = std::max<double>(config_.min_cwnd, cwnd_ * 0.7);
  recovery_until_seq_ = next_seq_;
  stats_.cwnd = static_cast<uint32_t>(cwnd_);
}

bool SenderFlow::OnQueueDelay(int64_t rtt, int64_t now) {
  const int64_t base = base_->Sample(rtt);
  stats_.min_rtt_ns = base;
  const int64_t target = base + config_.target_queue_delay_ns;
  if (config_.target_queue_delay_ns <= 0 || rtt <= target) return false;
  // Over target: shrink in proportion to the excess (at most by half), once
  // per round trip, so that the window settles where the queue stays near
  // the target instead of oscillating (the rule of Google's Swift).
  if (now - last_delay_decrease_ns_ >= stats_.srtt_ns) {
    const double excess = static_cast<double>(rtt - target) / rtt;
    cwnd_ = std::max<double>(config_.min_cwnd,
                             cwnd_ * std::max(0.5, 1.0 - 0.8 * excess));
    last_delay_decrease_ns_ = now;
    ++stats_.delay_decreases;
  }
  return true;
}

void SenderFlow::OnAck(const AckPayload& ack, int64_t now, Release release) {
  ++stats_.acks;
  // Nothing from the wire is trusted: an ack for frames never sent, or a
  // credit that shrinks, is ignored.
  if (ack.cumulative > next_seq_ ||
      (ack.sack_count > 0 && ack.sacks[ack.sack_count - 1].end > next_seq_)) {
    ++stats_.stale_acks;
    return;
  }
  window_end_ = std::max(window_end_, ack.window_end);
  bool queue_over_target = false;
  if (ack.echo_timestamp > 0 &&
      ack.echo_timestamp <= static_cast<uint64_t>(now)) {
    const int64_t rtt = now - static_cast<int64_t>(ack.echo_timestamp);
    OnRttSample(rtt, now);
    queue_over_target = OnQueueDelay(rtt, now);
  }
  // Cumulative.
  uint32_t newly_acked = 0;
  while (!frames_.empty() && frames_.front().seq < ack.cumulative) {
    Frame& f = frames_.front();
    if (!f.sacked) {
      --in_flight_frames_;
      in_flight_bytes_ -= f.len;
    } else {
      --sacked_frames_;
    }
    acked_offset_ = f.offset + f.len;
    if (f.buf) release(f.buf);
    frames_.pop_front();
    ++newly_acked;
  }
  // Selective: the peer holds these; they need no retransmission.
  if (!frames_.empty()) {
    const uint64_t base = frames_.front().seq;
    for (uint32_t i = 0; i < ack.sack_count; ++i) {
      for (uint64_t s = std::max(ack.sacks[i].begin, base);
           s < ack.sacks[i].end; ++s) {
        Frame& f = frames_[static_cast<uint32_t>(s - base)];
        if (f.sacked) continue;
        f.sacked = true;
        ++sacked_frames_;
        --in_flight_frames_;
        in_flight_bytes_ -= f.len;
        if (f.buf) {
          release(f.buf);
          f.buf = nullptr;
        }
        ++newly_acked;
      }
    }
  }
  stats_.acked_bytes = acked_offset_;
  if (rto_undo_.armed) CheckSpuriousTimeout(ack);
  if (requesting_) {
    const bool still_missing = !frames_.empty() &&
                               frames_.front().seq == requested_seq_ &&
                               !frames_.front().sacked;
    if (!still_missing) {
      // It arrived (late): nothing is sent again.
      requesting_ = false;
      ++stats_.requests_answered_whole;
    } else if (ack.flags & kAckAnswersRequest) {
      // The receiver read everything sent before the request and still
      // lacks it: lost.
      requesting_ = false;
      request_says_lost_ = true;
    }
  }
  // Additive increase: about one frame per round trip, while the queue is
  // within target.
  if (!queue_over_target && cwnd_ < config_.max_cwnd)
    cwnd_ += static_cast<double>(newly_acked) / cwnd_;
  cwnd_ = std::min<double>(cwnd_, config_.max_cwnd);
  stats_.cwnd = static_cast<uint32_t>(cwnd_);
  stats_.in_flight_bytes = in_flight_bytes_;
}

void SenderFlow::CheckSpuriousTimeout(const AckPayload& ack) {
  // Only the ack that covers the retransmitted frame decides.
  bool covered = ack.cumulative > rto_undo_.seq;
  for (uint32_t i = 0; i < ack.sack_count && !covered; ++i) {
    covered =
        ack.sacks[i].begin <= rto_undo_.seq && rto_undo_.seq < ack.sacks[i].end;
  }
  if (!covered) return;
  rto_undo_.armed = false;
  // The hole was filled by a frame sent before the retransmission: the
  // original arrived, late. (An echo of a later frame, or one that did not
  // fill the hole, decides nothing: the loss stands.)
  if ((ack.flags & kAckEchoAdvanced) == 0 ||
      ack.echo_timestamp >= static_cast<uint64_t>(rto_undo_.retransmitted_ns))
    return;
  ++stats_.spurious_rtos;
  cwnd_ = std::max(cwnd_, rto_undo_.cwnd);
  stats_.cwnd = static_cast<uint32_t>(cwnd_);
  recovery_until_seq_ = rto_undo_.recovery_until_seq;
  // The RTO is what the samples now say (those of the late frames, the
  // delay spike itself, included: the next RTO allows for it), never less
  // than before the expiry.
  rto_ns_ = std::max(rto_ns_, rto_undo_.rto_ns);
  stats_.rto_ns = rto_ns_;
}

absl::Span<SenderFlow::Frame* const> SenderFlow::DueRetransmits(
    int64_t now, bool may_time_out) {
  std::vector<Frame*>& due = due_;
  due.clear();
  if (frames_.empty()) return due;
  // SACK holes: an unsacked frame with dup_threshold sacked frames above it
  // is lost; send it again unless it was sent within the last RTT. Holes
  // exist only when something is sacked, so the scan is skipped otherwise.
  const int64_t rtt =
      have_rtt_ ? std::max<int64_t>(stats_.srtt_ns, 500'000) : rto_ns_;
  if (sacked_frames_ >= config_.dup_threshold) {
    uint32_t sacked_above = 0;
    for (uint32_t i = frames_.size(); i-- > 0;) {
      Frame& f = frames_[i];
      if (f.sacked) {
        ++sacked_above;
      } else if (sacked_above >= config_.dup_threshold &&
                 now - f.last_sent_ns > rtt) {
        due.push_back(&f);
        ++stats_.fast_retransmits;
      }
    }
  }
  if (!due.empty()) OnLoss(now);
  // RTO: the oldest unacked frame waited too long. Its first expiry asks
  // the receiver for an ack; the frame goes again when the answer shows it
  // missing, or when none came within another RTO (later expiries resend
  // at once, backing off: the peer may be gone).
  Frame& oldest = frames_.front();
  const bool expired = !oldest.sacked && now - oldest.last_sent_ns > rto_ns_;
  bool resend = false;
  if (request_says_lost_ ||
      (requesting_ && may_time_out && now - requested_ns_ > rto_ns_)) {
    resend = !oldest.sacked && oldest.seq == requested_seq_;
    requesting_ = request_says_lost_ = false;
  } else if (!requesting_ && due.empty() && may_time_out && expired &&
             oldest.transmissions == 1) {
    requesting_ = request_pending_ = true;
    requested_seq_ = oldest.seq;
    requested_ns_ = now;
    ++stats_.ack_requests;
  } else if (!requesting_ && due.empty() && may_time_out && expired) {
    resend = true;
  }
  if (resend && due.empty()) {
    due.push_back(&oldest);
    ++stats_.rto_retransmits;
    if (!rto_undo_.armed || rto_undo_.seq != oldest.seq) {
      rto_undo_ = {true, oldest.seq, now, cwnd_, rto_ns_, recovery_until_seq_};
    }
    OnLoss(now);
    rto_ns_ = std::min(rto_ns_ * 2, config_.max_rto_ns);  // back off
    stats_.rto_ns = rto_ns_;
  }
  std::reverse(due.begin(), due.end());  // oldest first
  return due;
}

void SenderFlow::ReleaseAll(Release release) {
  for (uint32_t i = 0; i < frames_.size(); ++i) {
    if (frames_[i].buf) release(frames_[i].buf);
  }
  frames_.clear();
  sacked_frames_ = 0;
  in_flight_frames_ = 0;
  in_flight_bytes_ = 0;
}

ReceiverFlow::ReceiverFlow(const FlowConfig& config)
    : config_(config), ring_(kRingSlots) {}

ReceiverFlow::Verdict ReceiverFlow::OnData(uint64_t seq, uint64_t offset,
                                           uint32_t len, bool eos, void* buf) {
  ++stats_.frames;
  if (complete_ || seq < next_seq_ ||
      (seq - next_seq_ < kRingSlots && Slot(seq).buf != nullptr)) {
    ++stats_.duplicates;
    return Verdict::kDuplicate;
  }
  // Credit: never hold more than the window beyond what was delivered, and
  // never believe a sequence number or offset beyond it. Written so that
  // nothing wraps, whatever a peer puts in the header.
  const uint64_t window = config_.window_bytes;
  if (seq - next_seq_ >= kRingSlots || offset < next_offset_ || len > window ||
      offset - next_offset_ > window - len || (len == 0 && !eos)) {
    ++stats_.out_of_window;
    return Verdict::kOutOfWindow;
  }
  Slot(seq) = Held{offset, len, eos, buf};
  highest_held_ = held_frames_++ == 0 ? seq : std::max(highest_held_, seq);
  stats_.bytes += len;
  stats_.buffered_bytes += len;
  stats_.max_buffered_bytes =
      std::max(stats_.max_buffered_bytes, stats_.buffered_bytes);
  return Verdict::kAccepted;
}

absl::Status ReceiverFlow::DeliverInOrder(Deliver deliver, Release release) {
  while (Slot(next_seq_).buf != nullptr) {
    Held& h = Slot(next_seq_);
    if (h.offset != next_offset_) {
      // Consistent framing is part of what the sender promises: a gap or
      // overlap in offsets at the next sequence number is a protocol error.
      return absl::DataLossError(absl::StrCat("frame ", next_seq_,
                                              " at offset ", h.offset,
                                              ", expected ", next_offset_));
    }
    if (head_written_ < h.len) {
      absl::StatusOr<uint32_t> n =
          deliver(h.buf, h.offset, head_written_, h.len);
      if (!n.ok()) return n.status();
      head_written_ += *n;
      stats_.buffered_bytes -= *n;
      stats_.delivered_bytes += *n;
      if (head_written_ < h.len) return absl::OkStatus();  // pushed back
    }
    void* buf = h.buf;
    const bool eos = h.eos;
    h = Held();
    --held_frames_;
    ++next_seq_;
    next_offset_ += head_written_;
    head_written_ = 0;
    release(buf);
    if (eos) complete_ = true;
  }
  return absl::OkStatus();
}

AckPayload ReceiverFlow::MakeAck(uint64_t echo_timestamp,
                                 uint32_t flags) const {
  AckPayload a = {};
  a.cumulative = next_seq_;
  a.window_end = next_offset_ + config_.window_bytes;
  a.echo_timestamp = echo_timestamp;
  a.flags = flags;
  a.delivered_bytes = next_offset_;
  if (held_frames_ == 0) return a;
  // Held ranges, lowest first: they border the holes the sender must fill
  // next. The frame at next_seq_ is held too while the device pushes back.
  uint64_t seq = next_seq_;
  while (seq <= highest_held_ && a.sack_count < kMaxSackBlocks) {
    while (seq <= highest_held_ && Slot(seq).buf == nullptr) ++seq;
    if (seq > highest_held_) break;
    const uint64_t begin = seq;
    while (seq <= highest_held_ && Slot(seq).buf != nullptr) ++seq;
    a.sacks[a.sack_count++] = SackBlock{begin, seq};
  }
  return a;
}

void ReceiverFlow::ReleaseAll(Release release) {
  for (Held& h : ring_) {
    if (h.buf) release(h.buf);
    h = Held();
  }
  held_frames_ = 0;
  head_written_ = 0;
  stats_.buffered_bytes = 0;
}

}  // namespace vmig::dataplane
