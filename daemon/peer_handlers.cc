// The destination's side of PeerService: what a source daemon asks of an
// incoming session (handshake, switchover-ack, commit, abort).
#include <time.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/fmt_absl.h"
#include "daemon/session_manager.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::StatusOr<std::shared_ptr<SessionRecord>> SessionManager::FindDestination(
    const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->role() != v1::ROLE_DESTINATION) {
    return absl::NotFoundError(
        absl::StrCat("no incoming session sessions/", id));
  }
  return it->second;
}

absl::StatusOr<v1::HandshakeResponse> SessionManager::PeerHandshake(
    const v1::HandshakeRequest& req) {
  if (req.version() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("peer protocol version ", req.version(), " is not 1"));
  }
  absl::StatusOr<std::shared_ptr<SessionRecord>> found =
      FindDestination(req.session_id());
  if (!found.ok()) return found.status();
  SessionRecord& s = **found;
  absl::MutexLock lock(&s.op_mu);
  if (s.phase() != v1::PHASE_PREPARED) {
    return absl::FailedPreconditionError(absl::StrCat(
        s.name(), " is ", v1::Phase_Name(s.phase()), ", not PREPARED"));
  }
  if (!transport_)
    return absl::FailedPreconditionError("this daemon has no data plane");
  if (static_cast<size_t>(req.devices_size()) != s.device_ids.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source maps ", req.devices_size(), " devices; ",
                     s.name(), " prepared ", s.device_ids.size()));
  }
  // Streams follow the source's order: reorder the prepared devices to it.
  std::vector<size_t> order;
  for (const auto& d : req.devices()) {
    auto it =
        std::find(s.device_ids.begin(), s.device_ids.end(), d.destination());
    if (it == s.device_ids.end() ||
        std::find(order.begin(), order.end(), it - s.device_ids.begin()) !=
            order.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", d.destination(), " is not (once) part of ", s.name()));
    }
    order.push_back(static_cast<size_t>(it - s.device_ids.begin()));
  }
  std::vector<std::string> ids;
  std::vector<std::shared_ptr<vfio::MigrationDevice>> devs;
  std::vector<std::unique_ptr<vfio::DataSession>> incoming;
  for (size_t i : order) {
    ids.push_back(s.device_ids[i]);
    devs.push_back(s.devices[i]);
    incoming.push_back(std::move(s.incoming[i]));
  }
  s.device_ids = std::move(ids);
  s.devices = std::move(devs);
  s.incoming = std::move(incoming);

  std::random_device rd;
  const uint64_t token = (uint64_t{rd()} << 32) | rd();
  s.wire_session_id = rd() | 1;
  for (size_t i = 0; i < s.incoming.size(); ++i) {
    dataplane::StreamSpec spec;
    spec.role = dataplane::StreamRole::kReceive;
    spec.session_id = s.wire_session_id;
    spec.session_token = token;
    spec.stream_id = static_cast<uint32_t>(i);
    spec.data = s.incoming[i].get();
    spec.peer.ipv4 = req.source_data_ipv4();
    spec.peer.udp_port = static_cast<uint16_t>(req.source_data_udp_port());
    absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
        transport_->AddStream(spec);
    if (!st.ok()) {
      CancelStreams(s);
      return st.status();
    }
    s.streams.push_back(*st);
  }
  s.Update([&](v1::Session& p) {
    p.set_phase(v1::PHASE_PRECOPY);
    p.clear_devices();
    for (const std::string& id : s.device_ids) {
      auto* d = p.add_devices();
      d->set_device(absl::StrCat("devices/", id));
      d->set_state(v1::DEVICE_STATE_RESUMING);
    }
  });
  v1::HandshakeResponse resp;
  resp.set_session_token(token);
  resp.set_wire_session_id(s.wire_session_id);
  resp.set_data_ipv4(transport_->local().ipv4);
  resp.set_data_udp_port(transport_->local().udp_port);
  for (size_t i = 0; i < s.streams.size(); ++i)
    resp.add_stream_ids(static_cast<uint32_t>(i));
  return resp;
}

absl::StatusOr<v1::SwitchoverAckResponse> SessionManager::PeerSwitchoverAck(
    const v1::SwitchoverAckRequest& req) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> found =
      FindDestination(req.session_id());
  if (!found.ok()) return found.status();
  SessionRecord& s = **found;
  absl::MutexLock lock(&s.op_mu);
  if (static_cast<size_t>(req.initial_data_offsets_size()) !=
      s.streams.size()) {
    return absl::InvalidArgumentError(
        "initial_data_offsets: one per device is required");
  }
  // Acknowledged once every device has been written its initial data.
  bool all = true;
  for (size_t i = 0; i < s.streams.size(); ++i) {
    all = all && s.streams[i]->Stats().device_bytes >=
                     req.initial_data_offsets(static_cast<int>(i));
  }
  v1::SwitchoverAckResponse resp;
  resp.set_acknowledged(all);
  return resp;
}

absl::StatusOr<v1::CommitResponse> SessionManager::PeerCommit(
    const v1::CommitRequest& req) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> found =
      FindDestination(req.session_id());
  if (!found.ok()) return found.status();
  SessionRecord& s = **found;
  absl::MutexLock lock(&s.op_mu);
  if (s.phase() != v1::PHASE_PRECOPY) {
    return absl::FailedPreconditionError(absl::StrCat(
        s.name(), " is ", v1::Phase_Name(s.phase()), ": nothing to commit"));
  }
  if (static_cast<size_t>(req.stream_bytes_size()) != s.streams.size()) {
    return absl::InvalidArgumentError(
        "stream_bytes: one per device is required");
  }
  // Every byte the source sent must be in the devices.
  for (size_t i = 0; i < s.streams.size(); ++i) {
    absl::Status w = s.streams[i]->Wait(absl::Seconds(10));
    const uint64_t got = s.streams[i]->Stats().device_bytes;
    const uint64_t want = req.stream_bytes(static_cast<int>(i));
    if (w.ok() && got != want) {
      w = absl::DataLossError(
          absl::StrCat(got, " bytes written, the source sent ", want));
    }
    if (!w.ok()) {
      const std::string why = absl::StrCat(s.device_ids[i], ": ", w.message());
      RollBackDestination(s, v1::PHASE_FAILED, why);
      return absl::AbortedError(why);
    }
  }
  s.Update([](v1::Session& p) { p.set_phase(v1::PHASE_SWITCHOVER); });
  CancelStreams(s);
  s.incoming.clear();
  // Load (RESUMING -> STOP) in parallel; any failure aborts the session.
  const absl::Time t0 = absl::Now();
  std::vector<absl::Status> results(s.devices.size());
  // The serial baseline loads and resumes one device after another.
  auto for_each = [&](const std::function<void(size_t)>& f) {
    if (req.serial()) {
      for (size_t i = 0; i < s.devices.size(); ++i) f(i);
    } else {
      ParallelFor(s.devices.size(), f);
    }
  };
  for_each([&](size_t i) {
    results[i] = s.devices[i]->SetState(vfio::DeviceState::kStop).status();
  });
  std::vector<std::string> errors;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      errors.push_back(
          absl::StrCat(s.device_ids[i], ": ", results[i].message()));
    }
  }
  if (!errors.empty()) {
    const std::string why =
        absl::StrCat("load failed: ", absl::StrJoin(errors, "; "));
    RollBackDestination(s, v1::PHASE_FAILED, why);
    return absl::AbortedError(why);
  }
  const absl::Time loaded = absl::Now();
  // Resume in lockstep: every device RUNNING_P2P before any is RUNNING.
  for_each([&](size_t i) {
    results[i] =
        s.devices[i]->SetState(vfio::DeviceState::kRunningP2P).status();
  });
  if (!s.leave_stopped) {
    for_each([&](size_t i) {
      if (results[i].ok()) {
        results[i] =
            s.devices[i]->SetState(vfio::DeviceState::kRunning).status();
      }
    });
  }
  v1::CommitResponse resp;
  resp.set_last_running_mono_ns(MonotonicNanos());
  resp.set_load_ns(absl::ToInt64Nanoseconds(loaded - t0));
  resp.set_resume_ns(absl::ToInt64Nanoseconds(absl::Now() - loaded));
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      spdlog::error("{}: {} did not resume: {}", s.name(), s.device_ids[i],
                    results[i].message());
    }
  }
  devices_.Release(s.device_ids, s.name());
  s.Update([&](v1::Session& p) {
    p.set_phase(v1::PHASE_COMPLETED);
    for (int i = 0; i < p.devices_size(); ++i) {
      p.mutable_devices(i)->set_state(s.leave_stopped
                                          ? v1::DEVICE_STATE_RUNNING_P2P
                                          : v1::DEVICE_STATE_RUNNING);
    }
  });
  return resp;
}

absl::Status SessionManager::PeerAbort(const v1::AbortRequest& req) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> found =
      FindDestination(req.session_id());
  if (!found.ok()) return found.status();
  SessionRecord& s = **found;
  absl::MutexLock lock(&s.op_mu);
  if (IsTerminal(s.phase())) return absl::OkStatus();
  RollBackDestination(s, v1::PHASE_FAILED,
                      absl::StrCat("source aborted: ", req.reason()));
  return absl::OkStatus();
}

}  // namespace vmig::daemon
