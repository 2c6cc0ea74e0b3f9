#include "dataplane/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "dataplane/peer_memory_guard.h"
#include "dataplane/worker_mbuf.h"

namespace vmig::dataplane {
namespace {

// The UDP source port of a stream: varied per flow so that NIC RSS spreads
// streams over queues.
uint16_t FlowPort(uint32_t stream_id) {
  return static_cast<uint16_t>(49152 + stream_id % 16384);
}

static_assert(kParseErrorKinds == kNumParseErrors,
              "a counter for every reason a frame is dropped");

}  // namespace

Worker::Worker(Port& port, uint16_t queue, const Endpoint& local,
               const FaultConfig& faults, WorkerCounters& counters,
               RateLimiter* port_cap)
    : port_(port),
      queue_(queue),
      local_(local),
      faults_(faults),
      counters_(counters),
      port_cap_(port_cap) {
  // Several sessions add streams at once, from their own threads: the
  // inbox has many producers and one consumer.
  inbox_ = rte_ring_create(
      absl::StrCat("vmig_inbox_", port.id(), "_", queue).c_str(), 1024,
      rte_socket_id(), RING_F_SC_DEQ);
  // Room for a few RX bursts from each sibling: the owner drains it every
  // pass, so it fills only if the owner stalls.
  handoff_ = rte_ring_create(
      absl::StrCat("vmig_handoff_", port.id(), "_", queue).c_str(), 2048,
      rte_socket_id(), RING_F_SC_DEQ);
  tx_.reserve(4 * kBurst);
  // Taking a stream over does not allocate either, up to this many at once
  // (a session's stop-copy streams arrive mid-transfer, beside others).
  streams_.reserve(kStreamsReserved);
  order_.reserve(kStreamsReserved);
  paths_.reserve(kPathsReserved);
  // A burst is handled whole (each frame checked, decrypted, queued) before
  // the loop sends acks: at most about 256 KiB of frames per burst keeps
  // that under ~100 us even through the cipher, so that the acks' RTT shows
  // the link's queue and not this loop's work (32 frames of 64000 bytes,
  // 2 MB, took 0.7 ms to decrypt and the delay-based window kept backing
  // off). 32 frames at a 9000-byte MTU.
  const uint32_t frame =
      port.max_payload() + static_cast<uint32_t>(kFrameOverhead);
  rx_burst_ = static_cast<uint16_t>(
      std::clamp<uint32_t>((256u << 10) / std::max(frame, 1u), 4, kBurst));
}

Worker::~Worker() {
  // After Run(), everything is released; a RunOnce() caller may leave some.
  if (!exited_.load(std::memory_order_acquire)) ReleaseAll();
  if (inbox_) rte_ring_free(inbox_);
  if (handoff_) {
    // Every worker has stopped by now (the transport waits for all lcores
    // before destroying any), so nothing more arrives.
    void* m;
    while (rte_ring_dequeue(handoff_, &m) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(handoff_);
  }
}

bool Worker::Submit(Stream* stream) {
  return inbox_ && rte_ring_enqueue(inbox_, &stream->context()) == 0;
}

void Worker::TakeNewStreams(int64_t now) {
  void* p;
  while (rte_ring_dequeue(inbox_, &p) == 0) {
    StreamContext* s = static_cast<StreamContext*>(p);
    const StreamSpec& spec = s->handle.spec();
    s->peer = spec.peer;
    if (s->sender) {
      s->path_slot = JoinPath((static_cast<uint64_t>(spec.peer.ipv4) << 16) |
                              spec.peer.udp_port);
      if (s->path_slot >= 0) s->sender->SharePath(&paths_[s->path_slot].base);
    }
    s->started_ns = now;
    s->heard_ns = now;
    s->handle.MarkRunning();
    streams_[s->handle.key()] = s;
    order_.push_back(s);
  }
}

int Worker::Run() {
  uint32_t idle = 0;
  const uint64_t hang_after = faults_.config().hang_worker_after_frames;
  // A dying memif peer's memory stays mapped until this worker is between
  // passes (see peer_memory_guard.h).
  const WorkerQuiescence quiescence;
  while (!stop_.load(std::memory_order_acquire)) {
    if (hang_after > 0 &&
        counters_.value[kRxFrames].load(std::memory_order_relaxed) +
                counters_.value[kTxFrames].load(std::memory_order_relaxed) >=
            hang_after) {
      quiescence.Offline();
      HangUntilStopped();
      quiescence.Online();
      break;
    }
    if (RunOnce()) {
      idle = 0;
    } else if (++idle > 256) {
      // Nothing to do: back off from spinning to sleeping, longer the longer
      // we idle (up to 1 ms), so that an idle daemon sleeps.
      const uint32_t us = std::min<uint32_t>(1000, (idle - 256) / 8 + 10);
      counters_.Add(kIdleSleeps);
      quiescence.Offline();
      rte_delay_us_sleep(us);
      quiescence.Online();
    }
    quiescence.Quiescent();
  }
  ReleaseAll();
  exited_.store(true, std::memory_order_release);
  return 0;
}

void Worker::HangUntilStopped() {
  // The injected hang: no loop passes, no polling, nothing served; only a
  // stop request ends it (so that the daemon still shuts down).
  while (!stop_.load(std::memory_order_acquire)) rte_delay_us_sleep(1000);
}

bool Worker::RunOnce() {
  const int64_t now = MonotonicNanos();
  // The control ring is cheap to poll, but not every loop.
  if ((loops_++ & 15) == 0 || order_.empty()) TakeNewStreams(now);
  bool busy = PollRx(now);
  bool urgent_sent = false;
  busy |= ServeStreams(/*urgent=*/true, false, now, &urgent_sent);
  bool sent = false;
  busy |= ServeStreams(/*urgent=*/false,
                       urgent_sent && loops_ % kPrecopyTurn != 0, now, &sent);
  // Under a cap the first stream served takes the tokens that freed up:
  // whoever sent goes to the back, or one stream would always win (a fixed
  // rotation aliases with the tokens' period).
  SendersToTheBack();
  busy |= !tx_.empty() || !delayed_.empty();
  Flush(now);
  if (now - last_publish_ns_ > 10'000'000) {
    for (StreamContext* s : order_) PublishStats(*s);
    last_publish_ns_ = now;
  }
  if (busy) counters_.Add(kBusyLoops);
  return busy;
}

bool Worker::ServeStreams(bool urgent, bool skip_senders, int64_t now,
                          bool* sent) {
  bool busy = false;
  for (size_t i = 0; i < order_.size();) {
    StreamContext* s = order_[i];
    const bool sender = s->handle.spec().role == StreamRole::kSend;
    if ((sender && s->handle.urgent()) != urgent || (sender && skip_senders)) {
      ++i;
      continue;
    }
    if (s->handle.cancel_requested()) {
      s->handle.Finish(Stream::kCancelled);
      Retire(*s);
      continue;
    }
    bool sent_data = false;
    busy |= sender ? ServeSender(*s, now, &sent_data) : ServeReceiver(*s, now);
    *sent |= sent_data;
    // A stream retired while served left order_ (and may be gone): the
    // next one moved into slot i. Never touch *s after Retire().
    if (i < order_.size() && order_[i] == s) {
      s->sent_this_pass = sent_data;
      ++i;
    }
  }
  return busy;
}

void Worker::SendersToTheBack() {
  // In place and stable (no allocation): each stream that sent goes behind
  // those that did not, so that the next tokens go to one that waited.
  size_t i = 0;
  const size_t n = order_.size();
  for (size_t k = 0; k < n; ++k) {
    if (order_[i]->sent_this_pass) {
      order_[i]->sent_this_pass = false;
      std::rotate(order_.begin() + static_cast<long>(i),
                  order_.begin() + static_cast<long>(i) + 1, order_.end());
    } else {
      ++i;
    }
  }
}

void Worker::ReleaseAll() {
  for (StreamContext* s : std::vector<StreamContext*>(order_)) {
    if (!s->handle.finished())
      s->handle.Finish(Stream::kCancelled,
                       absl::CancelledError("data plane stopped"));
    Retire(*s);
  }
  for (rte_mbuf* m : tx_) rte_pktmbuf_free(m);
  tx_.clear();
  for (auto& [_, m] : delayed_) rte_pktmbuf_free(m);
  delayed_.clear();
}

void Worker::Retire(StreamContext& s) {
  if (s.sender) {
    s.sender->ReleaseAll(FreeMbuf);
    if (s.path_slot >= 0) {
      s.sender->SharePath(nullptr);  // the path may go with this stream
      --paths_[s.path_slot].flows;
      s.path_slot = -1;
    }
  }
  if (s.receiver) s.receiver->ReleaseAll(FreeMbuf);
  PublishStats(s);
  streams_.erase(s.handle.key());
  order_.erase(std::remove(order_.begin(), order_.end(), &s), order_.end());
  s.handle.MarkReleased();
}

int Worker::JoinPath(uint64_t key) {
  int free = -1;
  for (size_t i = 0; i < paths_.size(); ++i) {
    SharedPath& p = paths_[i];
    if (p.flows > 0 && p.key == key) {
      ++p.flows;
      return static_cast<int>(i);
    }
    if (p.flows == 0 && free < 0) free = static_cast<int>(i);
  }
  if (free < 0) {
    if (paths_.size() == paths_.capacity()) return -1;  // no allocation
    free = static_cast<int>(paths_.size());
    paths_.emplace_back();
  }
  paths_[free] = SharedPath{key, 1, PathBaseRtt()};  // a new path, a new base
  return free;
}

void Worker::PublishStats(StreamContext& s) {
  StreamStats st;
  if (s.sender) st.sender = s.sender->stats();
  if (s.receiver) st.receiver = s.receiver->stats();
  st.device_bytes = s.device_bytes;
  st.caught_up = s.caught_up;
  st.started_ns = s.started_ns;
  st.finished_ns = s.finished_ns;
  st.write_bound_bytes = s.write_bound_bytes;
  st.write_bound_ns = s.write_bound_ns;
  st.cap_waits = s.cap_waits;
  st.heard_ns = s.heard_ns;
  s.handle.Publish(st);
}

bool Worker::ServeSender(StreamContext& s, int64_t now, bool* sent) {
  SenderFlow& flow = *s.sender;
  bool busy = false;
  RateLimiter* const session_cap = s.cap;
  bool capped = false;  // a cap held a data frame back in this pass
  absl::Span<SenderFlow::Frame* const> due =
      flow.DueRetransmits(now, !rx_full_);
  if (flow.TakeAckRequest()) {
    SendControl(s, FrameType::kAckRequest, nullptr, 0, now);
    s.keepalive_ns = now;
    busy = true;
  } else if (now - s.heard_ns > kKeepaliveNs &&
             now - s.keepalive_ns > kKeepaliveNs) {
    // Data-plane liveness: a stream with nothing in flight (pre-copy
    // caught up) hears no ack; it asks for one, so that its engine can
    // tell a cut data path from a quiet one.
    SendControl(s, FrameType::kAckRequest, nullptr, 0, now);
    s.keepalive_ns = now;
  }
  for (SenderFlow::Frame* f : due) {
    rte_mbuf* m = static_cast<rte_mbuf*>(f->buf);
    if (!m) continue;
    if (!CapsConform(port_cap_, session_cap, now)) {
      capped = true;  // still due on the next pass
      break;
    }
    rte_mbuf* out;
    if (rte_mbuf_refcnt_read(m) > 1) {
      // The PMD or the fault injector's queue still holds the original, so
      // its headers must not change. Waiting for it is no option: a PMD may
      // keep a sent mbuf until its next TX call (memif's zero-copy client
      // does), and when this frame is all that is left to send, that call
      // never comes. Send a copy.
      out = rte_pktmbuf_copy(m, port_.pool(), 0, UINT32_MAX);
      if (!out) continue;  // pool empty for now: the next loop tries again
      counters_.Add(kRetransmitCopies);
    } else {
      out = m;
      rte_mbuf_refcnt_update(m, 1);  // one for the flow, one for the PMD
    }
    // Sent again under a new packet number (a nonce is never reused, and
    // the receiver's replay window takes it): back to plaintext first.
    if (s.send_key && !aead_.Open(*s.send_key, absl::MakeSpan(FrameStart(out),
                                                              out->data_len))) {
      // Our own frame no longer authenticates: memory corruption.
      rte_pktmbuf_free(out);
      s.handle.Finish(Stream::kFailed,
                      absl::DataLossError(
                          absl::StrCat("stream ", s.handle.spec().stream_id,
                                       ": a sent frame changed in memory")));
      s.finished_ns = now;
      Retire(s);
      return true;
    }
    flow.MarkSent(*f, now);
    FinishDataFrame(s, out, *f, /*retransmit=*/true, now);
    ChargeCaps(port_cap_, session_cap, out->pkt_len, now);
    Transmit(out, now);
    busy = true;
    *sent = true;
  }
  // New data, read from the device straight into mbufs.
  const uint32_t max_payload = port_.max_payload();
  while (!s.source_drained && flow.CanSend(max_payload) &&
         tx_.size() < 2 * kBurst) {
    if (!CapsConform(port_cap_, session_cap, now)) {
      capped = true;
      break;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(port_.pool());
    if (!m) break;
    uint8_t* payload = FrameStart(m) + kFrameOverhead;
    absl::StatusOr<vfio::ReadResult> r =
        s.handle.spec().data->Read(absl::MakeSpan(payload, max_payload));
    if (!r.ok()) {
      rte_pktmbuf_free(m);
      s.handle.Finish(Stream::kFailed, r.status());
      s.finished_ns = now;
      Retire(s);
      return true;
    }
    if (r->outcome == vfio::ReadOutcome::kNoMoreForNow ||
        r->outcome == vfio::ReadOutcome::kWouldBlock) {
      if (r->outcome == vfio::ReadOutcome::kNoMoreForNow &&
          s.read_since_caught_up) {
        ++s.caught_up;  // one pre-copy round ends
        s.read_since_caught_up = false;
      }
      rte_pktmbuf_free(m);
      break;
    }
    s.read_since_caught_up = true;
    const bool eos = r->outcome == vfio::ReadOutcome::kEndOfStream;
    const uint32_t len = eos ? 0 : static_cast<uint32_t>(r->bytes);
    s.device_bytes += len;
    s.source_drained = eos;
    // Stamped when it leaves, not when the loop began: a loop that reads
    // and seals a burst takes milliseconds, which the frame's RTT sample
    // and its retransmission timer must not count.
    const int64_t sent_ns = MonotonicNanos();
    SenderFlow::Frame& f = flow.Push(m, len, eos, sent_ns);
    FinishDataFrame(s, m, f, /*retransmit=*/false, sent_ns);
    ChargeCaps(port_cap_, session_cap, m->pkt_len, sent_ns);
    rte_mbuf_refcnt_update(m, 1);
    Transmit(m, sent_ns);
    busy = true;
    *sent = true;
  }
  if (capped) {
    // Not work for the idle back-off: a capped sender waits for tokens,
    // and the worker may sleep (RateLimiter's tolerance covers a sleep).
    ++s.cap_waits;
    counters_.Add(kCapWaits);
  }
  if (flow.Done() && s.handle.state() == Stream::kRunning) {
    s.finished_ns = now;
    PublishStats(s);
    s.handle.Finish(Stream::kDone);
  }
  if (s.handle.state() == Stream::kDone) {
    // Tell the receiver it may go; best effort, a few times.
    SendControl(s, FrameType::kClose, nullptr, 0, now);
    if (++s.closes_sent >= 3) Retire(s);
    return true;
  }
  return busy;
}

void Worker::FinishDataFrame(StreamContext& s, rte_mbuf* m,
                             const SenderFlow::Frame& f, bool retransmit,
                             int64_t now) {
  WireHeader h = {};
  h.type = static_cast<uint8_t>(FrameType::kData);
  h.flags = static_cast<uint16_t>((f.eos ? kFlagEndOfStream : 0) |
                                  (retransmit ? kFlagRetransmit : 0));
  h.seq = f.seq;
  h.offset = f.offset;
  h.timestamp = static_cast<uint64_t>(now);
  EncodeFrame(s, h, m, f.len);
}

void Worker::EncodeFrame(StreamContext& s, WireHeader h, rte_mbuf* m,
                         uint32_t payload_len) {
  const StreamSpec& spec = s.handle.spec();
  const uint32_t frame_len =
      static_cast<uint32_t>(FrameBytes(payload_len, spec.protection));
  m->data_len = static_cast<uint16_t>(frame_len);
  m->pkt_len = frame_len;
  h.session_id = spec.session_id;
  h.stream_id = spec.stream_id;
  h.protection = static_cast<uint8_t>(spec.protection);
  h.packet_number = s.next_packet_number++;
  h.session_token =
      spec.protection == Protection::kNone ? spec.session_token : 0;
  EncodeHeaders(
      local_, s.peer, FlowPort(spec.stream_id), h,
      absl::MakeConstSpan(FrameStart(m) + kFrameOverhead, payload_len),
      FrameStart(m));
  if (s.send_key)
    (void)aead_.Seal(*s.send_key, absl::MakeSpan(FrameStart(m), frame_len));
}

void Worker::SendAck(StreamContext& s, int64_t now) {
  AckPayload ack = s.receiver->MakeAck(
      s.echo_timestamp, (s.echo_advanced ? kAckEchoAdvanced : 0) |
                            (s.ack_requested ? kAckAnswersRequest : 0));
  s.echo_advanced = false;
  s.ack_requested = false;
  SendControl(s, FrameType::kAck, &ack,
              static_cast<uint32_t>(AckPayloadBytes(ack.sack_count)), now);
}

void Worker::SendControl(StreamContext& s, FrameType type, const void* payload,
                         uint32_t len, int64_t now) {
  if (s.peer.ipv4 == 0) return;  // nowhere to send yet
  rte_mbuf* m = rte_pktmbuf_alloc(port_.pool());
  if (!m) return;
  if (len) std::memcpy(FrameStart(m) + kFrameOverhead, payload, len);
  WireHeader h = {};
  h.type = static_cast<uint8_t>(type);
  h.timestamp = static_cast<uint64_t>(now);
  EncodeFrame(s, h, m, len);
  Transmit(m, now);
}

void Worker::Transmit(rte_mbuf* m, int64_t now) {
  switch (faults_.Decide()) {
    case FaultAction::kPass:
      break;
    case FaultAction::kDrop:
      counters_.Add(kInjectedDrop);
      rte_pktmbuf_free(m);
      return;
    case FaultAction::kDuplicate:
      counters_.Add(kInjectedDuplicate);
      rte_mbuf_refcnt_update(m, 1);
      Enqueue(m);
      break;
    case FaultAction::kReorder:
      // Held back briefly, so that the frames after it overtake it. Held by
      // time, not until a next frame: when nothing else is sent (a lone ack,
      // the last frame in flight) it must still leave.
      counters_.Add(kInjectedReorder);
      delayed_.push_back({now + faults_.config().reorder_ns, m});
      return;
    case FaultAction::kCorrupt: {
      counters_.Add(kInjectedCorrupt);
      // Corrupt a copy: the original stays intact for retransmission.
      rte_mbuf* c = rte_pktmbuf_copy(m, port_.pool(), 0, UINT32_MAX);
      rte_pktmbuf_free(m);
      if (!c) return;
      FrameStart(c)[faults_.PickByte(c->data_len)] ^= 0x20;
      m = c;
      break;
    }
    case FaultAction::kDelay:
      counters_.Add(kInjectedDelay);
      delayed_.push_back({now + faults_.config().delay_ns, m});
      return;
  }
  Enqueue(m);
}

void Worker::Enqueue(rte_mbuf* m) {
  tx_.push_back(m);
  if (tx_.size() >= kBurst) Flush(0);
}

void Worker::Flush(int64_t now) {
  while (now > 0 && !delayed_.empty() && delayed_.front().first <= now) {
    tx_.push_back(delayed_.front().second);
    delayed_.pop_front();
  }
  if (tx_.empty()) return;
  // Lengths first: once the PMD has a frame it may free it at any time.
  uint64_t bytes[kMaxBacklog + 4 * kBurst];
  const size_t n = std::min(tx_.size(), sizeof(bytes) / sizeof(bytes[0]));
  for (size_t i = 0; i < n; ++i) bytes[i] = tx_[i]->pkt_len;
  // A full TX ring (the peer is behind) keeps the rest for the next loop;
  // senders stop producing while a backlog waits (ServeSender), so the
  // backlog stays bounded and nothing is dropped for want of ring space.
  const uint16_t sent = rte_eth_tx_burst(port_.id(), queue_, tx_.data(),
                                         static_cast<uint16_t>(n));
  uint64_t sent_bytes = 0;
  for (size_t i = 0; i < sent; ++i) sent_bytes += bytes[i];
  counters_.Add(kTxFrames, sent);
  counters_.Add(kTxBytes, sent_bytes);
  if (sent < tx_.size()) counters_.Add(kTxRingFull, 1);
  tx_.erase(tx_.begin(), tx_.begin() + sent);
  // Acks and closes are still queued when a backlog builds; past a hard
  // bound the oldest frames go (the flows retransmit what mattered).
  if (tx_.size() > kMaxBacklog) {
    const size_t drop = tx_.size() - kMaxBacklog;
    for (size_t i = 0; i < drop; ++i) rte_pktmbuf_free(tx_[i]);
    counters_.Add(kTxBacklogDrops, drop);
    tx_.erase(tx_.begin(), tx_.begin() + drop);
  }
}

}  // namespace vmig::dataplane
