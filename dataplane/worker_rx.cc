// The worker's receive side: polling the port's queue (and the hand-off
// ring from sibling workers), checking and authenticating each frame, and
// writing in-order data into the receiving devices.
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "dataplane/worker.h"
#include "dataplane/worker_mbuf.h"

namespace vmig::dataplane {

bool Worker::PollRx(int64_t now) {
  rte_mbuf* pkts[kBurst];
  const uint16_t n = rte_eth_rx_burst(port_.id(), queue_, pkts, rx_burst_);
  rx_full_ = n == rx_burst_;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (rte_mbuf_refcnt_read(m) > 1) {
      // A PMD that loops mbufs back (net_ring) hands over the sender's own
      // frame, which its flow keeps for a retransmission: opening it in
      // place would change the sender's copy. Work on a private one (never
      // the case on a NIC, memif or af_packet, which receive into their
      // own mbufs).
      rte_mbuf* copy = rte_pktmbuf_copy(m, port_.pool(), 0, UINT32_MAX);
      rte_pktmbuf_free(m);
      if (!copy) continue;  // the pool is empty: as if lost, sent again
      m = copy;
    }
    if (!HandOff(m)) HandleFrame(m, now);
  }
  if (siblings_.size() < 2 || !handoff_) return n > 0;
  const unsigned h = rte_ring_sc_dequeue_burst(
      handoff_, reinterpret_cast<void**>(pkts), rx_burst_, nullptr);
  for (unsigned i = 0; i < h; ++i) HandleFrame(pkts[i], now);
  return n > 0 || h > 0;
}

bool Worker::HandOff(rte_mbuf* m) {
  if (siblings_.size() < 2) return false;
  // Only the stream id is read here (the headers are in the first segment);
  // the owner checks everything, CRC included.
  const std::optional<uint32_t> id =
      PeekStreamId(absl::MakeConstSpan(FrameStart(m), m->data_len));
  if (!id) return false;  // too short: HandleFrame counts and drops it
  const size_t owner = WorkerFor(*id, siblings_.size());
  if (owner == queue_) return false;
  Worker& to = *siblings_[owner];
  if (!to.handoff_ || rte_ring_mp_enqueue(to.handoff_, m) != 0) {
    counters_.Add(kHandoffDrops);  // lost: retransmitted
    rte_pktmbuf_free(m);
    return true;
  }
  counters_.Add(kHandoffs);
  return true;
}

void Worker::Drop(rte_mbuf* m, ParseError why) {
  switch (why) {
    case ParseError::kBadCrc:
      counters_.Add(kCrcErrors);
      break;
    case ParseError::kBadTag:
      counters_.Add(kAuthFailures);
      break;
    case ParseError::kReplayed:
    case ParseError::kTooOld:
      counters_.Add(kReplays);
      break;
    default:
      counters_.Add(kParseErrors);
  }
  counters_.AddParseError(static_cast<size_t>(why));
  rte_pktmbuf_free(m);
}

void Worker::HandleFrame(rte_mbuf* m, int64_t now) {
  counters_.Add(kRxFrames);
  counters_.Add(kRxBytes, m->pkt_len);
  // Frames are single-segment here (the pool's buffers hold a whole frame);
  // a chained one from another PMD is linearized first.
  if (m->nb_segs > 1 && rte_pktmbuf_linearize(m) != 0) {
    counters_.Add(kParseErrors);
    rte_pktmbuf_free(m);
    return;
  }
  ParseError err;
  std::optional<ParsedFrame> f = ParseFrame(
      absl::MakeConstSpan(FrameStart(m), m->data_len), local_.udp_port, &err);
  if (!f) return Drop(m, err);
  auto it =
      streams_.find(Stream::Key(f->header.session_id, f->header.stream_id));
  if (it == streams_.end()) {
    counters_.Add(kUnknownSession);
    rte_pktmbuf_free(m);
    return;
  }
  StreamContext& s = *it->second;
  if (!Authenticate(s, *f, m)) return;
  const auto type = static_cast<FrameType>(f->header.type);
  if (type == FrameType::kData && s.receiver) {
    if (s.peer.ipv4 == 0) {
      // Acks go back to the host the data came from, at the listening port
      // the spec names (the frames' source port varies per flow for RSS).
      s.peer.ipv4 = f->src.ipv4;
      s.peer.mac = f->src.mac;
    }
    const bool eos = f->header.flags & kFlagEndOfStream;
    // Retransmissions are echoed too: the timestamp names the
    // transmission, so the sample is not ambiguous (RFC 7323), and the
    // sender learns which copy filled the hole (Eifel, RFC 3522).
    if (!s.echo_advanced) {
      s.echo_timestamp = f->header.timestamp;
      s.echo_advanced = f->header.seq == s.receiver->next_seq();
    }
    s.ack_pending = true;
    if (s.receiver->OnData(f->header.seq, f->header.offset,
                           f->header.payload_len, eos,
                           m) != ReceiverFlow::Verdict::kAccepted) {
      rte_pktmbuf_free(m);
    }
    return;
  }
  if (type == FrameType::kAck && s.sender) {
    AckPayload ack;
    if (!ParseAck(f->payload, &ack)) return Drop(m, ParseError::kBadAck);
    s.sender->OnAck(ack, now, FreeMbuf);
    s.heard_ns = now;
  } else if (type == FrameType::kAckRequest && s.receiver) {
    s.ack_requested = true;
    s.ack_pending = true;
  } else if (type == FrameType::kClose && s.receiver &&
             s.receiver->complete()) {
    s.linger_until_ns = now;  // the sender has its final ack: we may go
  }
  rte_pktmbuf_free(m);
}

bool Worker::Authenticate(StreamContext& s, const ParsedFrame& f, rte_mbuf* m) {
  const StreamSpec& spec = s.handle.spec();
  if (f.protection() != spec.protection) {
    // A downgrade (or a stray frame of another setup): never accepted.
    Drop(m, ParseError::kWrongProtection);
    return false;
  }
  if (spec.protection == Protection::kNone) {
    if (f.header.session_token == spec.session_token) return true;
    counters_.Add(kBadToken);
    rte_pktmbuf_free(m);
    return false;
  }
  const uint64_t pn = f.header.packet_number;
  switch (s.replay.Check(pn)) {
    case ReplayWindow::Verdict::kFresh:
      break;
    case ReplayWindow::Verdict::kReplayed:
      Drop(m, ParseError::kReplayed);
      return false;
    case ReplayWindow::Verdict::kTooOld:
      Drop(m, ParseError::kTooOld);
      return false;
  }
  if (!aead_.Open(*s.receive_key, absl::MakeSpan(FrameStart(m), m->data_len))) {
    Drop(m, ParseError::kBadTag);
    return false;
  }
  s.replay.Accept(pn);
  return true;
}

bool Worker::ServeReceiver(StreamContext& s, int64_t now) {
  bool busy = false;
  bool pushed_back = false;
  uint64_t written = 0;
  // Non-blocking writes: a device that pushes back keeps its frames in the
  // flow (whose credit then holds the sender back), and the loop goes on to
  // its other streams, acks and hand-offs.
  absl::Status st = s.receiver->DeliverInOrder(
      [&](void* buf, uint64_t, uint32_t from,
          uint32_t len) -> absl::StatusOr<uint32_t> {
        const uint8_t* p =
            FrameStart(static_cast<rte_mbuf*>(buf)) + kFrameOverhead;
        uint32_t done = from;
        while (done < len) {
          absl::StatusOr<size_t> n = s.handle.spec().data->Write(
              absl::MakeConstSpan(p + done, len - done));
          if (!n.ok()) return n.status();
          if (*n == 0) {
            pushed_back = true;
            break;
          }
          done += static_cast<uint32_t>(*n);
        }
        s.device_bytes += done - from;
        written += done - from;
        busy = busy || done > from;
        return done - from;
      },
      FreeMbuf);
  // While the device pushes back, it sets the pace: what it takes over that
  // time is its write rate (the prediction's destination term).
  if (s.pushback_since_ns != 0) {
    s.write_bound_ns += now - s.pushback_since_ns;
    s.write_bound_bytes += written;
    // What the device took after holding frames back frees credit the
    // sender is waiting for (no frame of its will come to be acked): a
    // window update, or it would stall until a retransmission timeout.
    if (written > 0) s.ack_pending = true;
  }
  s.pushback_since_ns = pushed_back ? now : 0;
  if (!st.ok() && s.handle.state() == Stream::kRunning) {
    s.handle.Finish(Stream::kFailed, st);
    s.finished_ns = now;
    Retire(s);
    return true;
  }
  if (s.ack_pending) {
    SendAck(s, now);
    s.ack_pending = false;
    busy = true;
  }
  if (s.receiver->complete() && s.handle.state() == Stream::kRunning) {
    // Every byte is in the device: the stream is done for its owner. Stay a
    // little to re-ack a final frame whose ack was lost, until CLOSE.
    s.finished_ns = now;
    PublishStats(s);
    s.handle.Finish(Stream::kDone);
    s.linger_until_ns = now + 2'000'000'000;
  }
  if (s.handle.state() == Stream::kDone && now >= s.linger_until_ns) Retire(s);
  return busy;
}

}  // namespace vmig::dataplane
