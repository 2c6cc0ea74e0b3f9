// The destination session's handshake: the source's device order, the
// lockstep check, the frame protection and keys, the receive streams (and
// the link probe's), and what the destination knows of its devices.
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/boot_id.h"
#include "daemon/destination/destination_session.h"
#include "daemon/link_probe.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::Status DestinationSession::OrderLike(const v1::HandshakeRequest& req) {
  if (static_cast<size_t>(req.devices_size()) != ids_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source maps ", req.devices_size(), " devices; ",
                     record_->name(), " prepared ", ids_.size()));
  }
  std::vector<size_t> order;
  for (const auto& d : req.devices()) {
    auto it = std::find(ids_.begin(), ids_.end(), d.destination());
    const size_t i = static_cast<size_t>(it - ids_.begin());
    if (it == ids_.end() ||
        std::find(order.begin(), order.end(), i) != order.end()) {
      return absl::InvalidArgumentError(absl::StrCat("device ", d.destination(),
                                                     " is not (once) part of ",
                                                     record_->name()));
    }
    order.push_back(i);
  }
  std::vector<std::string> ids, keys;
  std::vector<absl::Duration> arcs;
  std::vector<std::unique_ptr<vfio::DataSession>> incoming;
  for (size_t i : order) {
    ids.push_back(ids_[i]);
    keys.push_back(history_keys_[i]);
    arcs.push_back(arcs_[i]);
    incoming.push_back(std::move(incoming_[i]));
  }
  ids_ = std::move(ids);
  history_keys_ = std::move(keys);
  arcs_ = std::move(arcs);
  incoming_ = std::move(incoming);
  group_.Reorder(order);
  return absl::OkStatus();
}

absl::Status DestinationSession::CheckLockstep() {
  if (group_.size() < 2) return absl::OkStatus();
  std::vector<std::string> lacking;
  for (size_t i = 0; i < group_.size(); ++i) {
    if (!group_[i].flags.has(vfio::kMigP2P))
      lacking.push_back(absl::StrCat("devices/", ids_[i]));
  }
  if (lacking.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      absl::StrJoin(lacking, ", "),
      " lack P2P (VFIO_MIGRATION_P2P): several devices resume in lockstep, "
      "every one through RUNNING_P2P"));
}

absl::Status DestinationSession::Agree(const v1::HandshakeRequest& req,
                                       Agreement& out) {
  // Acks go to the source's port itself, never to every host.
  if (req.source_data_mac().size() != 6 ||
      (static_cast<uint8_t>(req.source_data_mac()[0]) & 1)) {
    return absl::InvalidArgumentError(
        "source_data_mac: the source's unicast data-plane MAC is required");
  }
  std::optional<dataplane::Protection> asked =
      dataplane::ProtectionFromName(req.cipher());
  if (!asked) {
    return absl::InvalidArgumentError(
        absl::StrCat("cipher '", req.cipher(), "' is not aes-256-gcm or none"));
  }
  // Unprotected only if both daemons are configured so.
  out.protection =
      *asked == dataplane::Protection::kNone &&
              transport_->config().protection == dataplane::Protection::kNone
          ? dataplane::Protection::kNone
          : dataplane::Protection::kAes256Gcm;
  if (out.protection == dataplane::Protection::kNone) return absl::OkStatus();
  absl::StatusOr<KeyShare> share = KeyShare::Generate();
  if (!share.ok()) return share.status();
  absl::StatusOr<SessionKeys> keys = share->Derive(
      req.key_share(), req.session_id(), KeyShare::Side::kDestination);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_share: ", keys.status().message()));
  }
  out.keys = *keys;
  out.key_share = share->public_key();
  return absl::OkStatus();
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
  if (absl::Status s = CheckLockstep(); !s.ok()) return s;

  Agreement agreed;
  if (absl::Status s = Agree(req, agreed); !s.ok()) return s;

  std::random_device rd;
  const uint64_t token = (uint64_t{rd()} << 32) | rd();
  const uint32_t wire_session = rd() | 1;
  record_->wire_session_id = wire_session;
  if (req.probe_bytes() > kMaxProbeBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "probe_bytes: ", req.probe_bytes(), " is more than ", kMaxProbeBytes));
  }
  auto add = [&](uint32_t id, vfio::DataSession* data)
      -> absl::StatusOr<std::shared_ptr<dataplane::Stream>> {
    dataplane::StreamSpec spec;
    spec.role = dataplane::StreamRole::kReceive;
    spec.session_id = wire_session;
    spec.session_token = token;
    spec.protection = agreed.protection;
    spec.send_key = agreed.keys.send;
    spec.receive_key = agreed.keys.receive;
    spec.stream_id = id;
    spec.data = data;
    spec.peer.ipv4 = req.source_data_ipv4();
    spec.peer.udp_port = static_cast<uint16_t>(req.source_data_udp_port());
    std::copy(req.source_data_mac().begin(), req.source_data_mac().end(),
              spec.peer.mac.begin());
    return transport_->AddStream(spec);
  };
  for (size_t i = 0; i < incoming_.size(); ++i) {
    absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
        add(static_cast<uint32_t>(i), incoming_[i].get());
    if (!st.ok()) {
      CancelStreams();
      return st.status();
    }
    streams_.push_back(*st);
  }
  // The link probe: one more stream, after the devices', into nothing.
  const uint32_t probe_id = static_cast<uint32_t>(incoming_.size());
  if (req.probe_bytes() > 0) {
    probe_sink_ = std::make_unique<ProbeSink>();
    absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
        add(probe_id, probe_sink_.get());
    if (!st.ok()) {
      CancelStreams();
      return st.status();
    }
    probe_ = *st;
  }
  PublishDevices(v1::PHASE_PRECOPY);
  record_->Update([&](v1::Session& p) {
    p.set_data_protection(dataplane::ProtectionName(agreed.protection));
    p.set_queue_position(0);
  });
  {
    absl::MutexLock st(&state_mu_);
    handshaken_ = true;
    last_contact_ = absl::Now();
  }
  v1::HandshakeResponse resp;
  resp.set_session_token(token);
  resp.set_cipher(dataplane::ProtectionName(agreed.protection));
  resp.set_key_share(agreed.key_share);
  if (std::shared_ptr<dataplane::Port> port = transport_->port())
    resp.set_data_mac(std::string(port->mac().begin(), port->mac().end()));
  resp.set_wire_session_id(wire_session);
  resp.set_data_ipv4(transport_->local().ipv4);
  resp.set_data_udp_port(transport_->local().udp_port);
  if (probe_) resp.set_probe_stream_id(probe_id);
  resp.set_barrier_ns(absl::ToInt64Nanoseconds(barrier_));
  resp.set_boot_id(BootId());
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
  return resp;
}

}  // namespace vmig::daemon
