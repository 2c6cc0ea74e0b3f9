// The destination session's handshake: the source's device order, the
// lockstep check, the frame protection and keys (destination_wire.h), the
// receive streams (and the link probe's), and what the destination knows
// of its devices.
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/boot_id.h"
#include "daemon/destination/destination_session.h"
#include "daemon/destination/destination_wire.h"
#include "daemon/link_probe.h"

namespace vmig::daemon {

absl::Status DestinationSession::OrderLike(const v1::HandshakeRequest& req) {
  absl::StatusOr<std::vector<size_t>> order =
      SourceOrder(req, ids_, record_->name());
  if (!order.ok()) return order.status();
  std::vector<std::string> ids, keys;
  std::vector<absl::Duration> arcs;
  std::vector<std::unique_ptr<vfio::DataSession>> incoming;
  for (size_t i : *order) {
    ids.push_back(ids_[i]);
    keys.push_back(history_keys_[i]);
    arcs.push_back(arcs_[i]);
    incoming.push_back(std::move(incoming_[i]));
  }
  ids_ = std::move(ids);
  history_keys_ = std::move(keys);
  arcs_ = std::move(arcs);
  incoming_ = std::move(incoming);
  group_.Reorder(*order);
  return absl::OkStatus();
}

absl::Status DestinationSession::AddStreams(const v1::HandshakeRequest& req,
                                            const dataplane::StreamSpec& spec) {
  auto add = [&](uint32_t id, vfio::DataSession* data)
      -> absl::StatusOr<std::shared_ptr<dataplane::Stream>> {
    dataplane::StreamSpec s = spec;
    s.stream_id = id;
    s.data = data;
    return transport_->AddStream(s);
  };
  for (size_t i = 0; i < incoming_.size(); ++i) {
    absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
        add(static_cast<uint32_t>(i), incoming_[i].get());
    if (!st.ok()) return st.status();
    streams_.push_back(*st);
  }
  // The link probe: one more stream, after the devices', into nothing.
  if (req.probe_bytes() == 0) return absl::OkStatus();
  probe_sink_ = std::make_unique<ProbeSink>();
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      add(static_cast<uint32_t>(incoming_.size()), probe_sink_.get());
  if (!st.ok()) return st.status();
  probe_ = *st;
  return absl::OkStatus();
}

void DestinationSession::DescribeDevices(const v1::HandshakeRequest& req,
                                         v1::HandshakeResponse& resp) {
  for (size_t i = 0; i < ids_.size(); ++i) {
    auto* m = resp.add_devices();
    m->set_arc_ns(absl::ToInt64Nanoseconds(arcs_[i]));
    if (!history_) continue;
    if (std::optional<DeviceMeasures> h = history_->Device(history_keys_[i]))
      m->set_write_bytes_per_second(h->write_rate);
    // History across the pair: what this daemon knows of the source's
    // class (measured when it was a source of it, or told by another
    // peer), and what the source measured, kept for when this daemon is
    // one. A calibration file's figures do not travel; the receiver marks
    // every figure as a peer's.
    const v1::DeviceClassMeasures& known =
        req.devices(static_cast<int>(i)).known();
    if (known.device_class().empty()) continue;
    if (std::optional<DeviceMeasures> h =
            history_->Device(known.device_class()))
      *m->mutable_source_class() = SharedMeasures(known.device_class(), *h);
    history_->Learn(known, Origin::kPeer);
  }
}

absl::StatusOr<v1::HandshakeResponse> DestinationSession::Handshake(
    const v1::HandshakeRequest& req) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EndedError(); !s.ok()) return s;
  if (record_->phase() != v1::PHASE_PREPARED &&
      record_->phase() != v1::PHASE_QUEUED) {
    return absl::FailedPreconditionError(
        absl::StrCat(record_->name(), " is ", v1::Phase_Name(record_->phase()),
                     ", not PREPARED"));
  }
  if (!transport_)
    return absl::FailedPreconditionError("this daemon has no data plane");
  if (absl::Status s = OrderLike(req); !s.ok()) return s;
  if (absl::Status s = CheckLockstep(group_, ids_); !s.ok()) return s;
  absl::StatusOr<Agreement> agreed =
      AgreeWithSource(req, transport_->config().protection);
  if (!agreed.ok()) return agreed.status();

  std::random_device rd;
  const uint64_t token = (uint64_t{rd()} << 32) | rd();
  const uint32_t wire_session = rd() | 1;
  record_->wire_session_id = wire_session;
  if (req.probe_bytes() > kMaxProbeBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "probe_bytes: ", req.probe_bytes(), " is more than ", kMaxProbeBytes));
  }
  dataplane::StreamSpec spec;
  spec.role = dataplane::StreamRole::kReceive;
  spec.session_id = wire_session;
  spec.session_token = token;
  spec.protection = agreed->protection;
  spec.send_key = agreed->keys.send;
  spec.receive_key = agreed->keys.receive;
  spec.peer.ipv4 = req.source_data_ipv4();
  spec.peer.udp_port = static_cast<uint16_t>(req.source_data_udp_port());
  std::copy(req.source_data_mac().begin(), req.source_data_mac().end(),
            spec.peer.mac.begin());
  if (absl::Status s = AddStreams(req, spec); !s.ok()) {
    CancelStreams();
    return s;
  }
  PublishDevices(v1::PHASE_PRECOPY);
  record_->Update([&](v1::Session& p) {
    p.set_data_protection(dataplane::ProtectionName(agreed->protection));
    p.set_queue_position(0);
  });
  decision_.Handshaken();
  v1::HandshakeResponse resp;
  resp.set_session_token(token);
  resp.set_cipher(dataplane::ProtectionName(agreed->protection));
  resp.set_key_share(agreed->key_share);
  if (std::shared_ptr<dataplane::Port> port = transport_->port())
    resp.set_data_mac(std::string(port->mac().begin(), port->mac().end()));
  resp.set_wire_session_id(wire_session);
  resp.set_data_ipv4(transport_->local().ipv4);
  resp.set_data_udp_port(transport_->local().udp_port);
  if (probe_) resp.set_probe_stream_id(static_cast<uint32_t>(incoming_.size()));
  resp.set_barrier_ns(absl::ToInt64Nanoseconds(barrier_));
  resp.set_boot_id(BootId());
  DescribeDevices(req, resp);
  return resp;
}

}  // namespace vmig::daemon
