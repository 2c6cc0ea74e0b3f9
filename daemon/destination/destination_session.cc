#include "daemon/destination/destination_session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "daemon/destination/load_and_resume.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"
#include "vfio/fsm.h"

namespace vmig::daemon {

using vfio::DeviceGroup;
using vfio::DeviceState;

DestinationSession::DestinationSession(
    std::shared_ptr<SessionRecord> record, std::vector<std::string> device_ids,
    std::vector<std::shared_ptr<vfio::MigrationDevice>> devices,
    bool leave_stopped, dataplane::Transport* transport,
    DeviceRegistry& registry, MeasureHistory* history, DaemonEvents& events)
    : record_(std::move(record)),
      leave_stopped_(leave_stopped),
      transport_(transport),
      registry_(registry),
      history_(history),
      events_(events),
      decision_(*record_) {
  absl::MutexLock lock(&mu_);
  ids_ = std::move(device_ids);
  for (const std::string& id : ids_) {
    absl::StatusOr<v1::Device> described = registry_.Get(id);
    history_keys_.push_back(described.ok() ? described->device_class() : id);
  }
  arcs_.assign(ids_.size(), absl::Milliseconds(1));
  for (size_t i = 0; i < devices.size(); ++i) {
    // A device without flags cannot be migrated into; Prepare() says so.
    (void)group_.Add(ids_[i], std::move(devices[i]), vfio::Recovery::kReset);
  }
}

DestinationSession::~DestinationSession() {
  (void)decision_.Fence("daemon shutting down");
  absl::MutexLock lock(&mu_);
  if (!released_) RollBack(v1::PHASE_CANCELLED, "daemon shutting down");
}

absl::Status DestinationSession::Prepare() {
  absl::MutexLock lock(&mu_);
  prepared_at_ = absl::Now();
  // How many arcs each device walks to RESUMING, to time one of them.
  std::vector<size_t> steps(group_.size(), 1);
  for (size_t i = 0; i < group_.size(); ++i) {
    absl::StatusOr<DeviceState> from = group_[i].device->GetState();
    if (!from.ok()) continue;
    absl::StatusOr<std::vector<DeviceState>> path =
        vfio::PlanPath(group_[i].flags, *from, DeviceState::kResuming);
    if (path.ok() && path->size() > 1) steps[i] = path->size() - 1;
  }
  std::vector<DeviceGroup::Arc> arcs;
  const absl::Time t0 = absl::Now();
  absl::Status s = group_.MoveAll(DeviceState::kResuming,
                                  DeviceGroup::Schedule::kParallel, &arcs);
  absl::Duration slowest;
  for (const auto& a : arcs) slowest = std::max(slowest, a.took);
  barrier_ = std::max(absl::ZeroDuration(), absl::Now() - t0 - slowest);
  for (size_t i = 0; s.ok() && i < arcs.size(); ++i) {
    if (!arcs[i].data) {
      s = absl::InternalError(
          absl::StrCat(ids_[i], ": RESUMING opened no data session"));
    }
  }
  if (!s.ok()) {
    (void)decision_.Fence(std::string(s.message()));
    RollBack(v1::PHASE_FAILED, std::string(s.message()));
    return absl::FailedPreconditionError(
        absl::StrCat("cannot move devices to RESUMING: ", s.message()));
  }
  for (size_t i = 0; i < arcs.size(); ++i) {
    arcs_[i] = arcs[i].took / static_cast<double>(steps[i]);
    if (history_) history_->RecordArc(history_keys_[i], arcs_[i]);
    incoming_.push_back(std::move(arcs[i].data));
  }
  record_->Update([&](v1::Session& p) {
    p.set_phase(v1::PHASE_PREPARED);
    p.set_leave_stopped(leave_stopped_);
    for (const std::string& id : ids_) {
      auto* d = p.add_devices();
      d->set_device(absl::StrCat("devices/", id));
      d->set_state(v1::DEVICE_STATE_RESUMING);
    }
  });
  return absl::OkStatus();
}

absl::StatusOr<v1::SwitchoverAckResponse> DestinationSession::SwitchoverAck(
    const v1::SwitchoverAckRequest& req) {
  decision_.Touch();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EndedError(); !s.ok()) return s;
  if (static_cast<size_t>(req.initial_data_offsets_size()) != streams_.size()) {
    return absl::InvalidArgumentError(
        "initial_data_offsets: one per device is required");
  }
  // Acknowledged once every device has been written its initial data.
  bool all = true;
  for (size_t i = 0; i < streams_.size(); ++i) {
    all = all && streams_[i]->Stats().device_bytes >=
                     req.initial_data_offsets(static_cast<int>(i));
  }
  v1::SwitchoverAckResponse resp;
  resp.set_acknowledged(all);
  for (double w : WriteRates(streams_)) resp.add_write_bytes_per_second(w);
  PublishProgress();
  return resp;
}

absl::Status DestinationSession::CheckAllWritten(const v1::CommitRequest& req) {
  if (static_cast<size_t>(req.stream_bytes_size()) != streams_.size()) {
    return absl::InvalidArgumentError(
        "stream_bytes: one per device is required");
  }
  for (size_t i = 0; i < streams_.size(); ++i) {
    absl::Status w = streams_[i]->Wait(absl::Seconds(10));
    const uint64_t got = streams_[i]->Stats().device_bytes;
    const uint64_t want = req.stream_bytes(static_cast<int>(i));
    if (w.ok() && got != want) {
      w = absl::DataLossError(
          absl::StrCat(got, " bytes written, the source sent ", want));
    }
    if (!w.ok()) {
      return absl::AbortedError(absl::StrCat(ids_[i], ": ", w.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CommitResponse> DestinationSession::Commit(
    const v1::CommitRequest& req, absl::Time deadline) {
  absl::StatusOr<std::optional<v1::CommitResponse>> begun =
      decision_.Begin(deadline);
  if (!begun.ok()) return begun.status();
  if (begun->has_value()) return **begun;  // asked again: the same answer
  absl::MutexLock lock(&mu_);
  const absl::Time arrived = absl::Now();
  v1::CommitResponse resp;
  // Every byte the source sent must be in the devices.
  if (absl::Status s = CheckAllWritten(req); !s.ok()) {
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(std::string(s.message()));
  } else {
    const absl::Time written = absl::Now();
    PublishProgress();
    if (history_) {
      const std::vector<double> rates = WriteRates(streams_);
      for (size_t i = 0; i < rates.size(); ++i)
        history_->RecordWrite(history_keys_[i], rates[i]);
    }
    record_->Update([](v1::Session& p) { p.set_phase(v1::PHASE_SWITCHOVER); });
    CancelStreams();
    incoming_.clear();
    resp = LoadAndResume(group_, *record_, req.serial(), leave_stopped_);
    resp.set_written_ns(absl::ToInt64Nanoseconds(written - arrived));
    resp.set_total_ns(absl::ToInt64Nanoseconds(absl::Now() - arrived));
  }
  if (resp.outcome() == v1::COMMIT_OUTCOME_ABORTED) {
    RollBack(v1::PHASE_FAILED, resp.error());
    decision_.Decide(Decision::kAborted, resp);
    return resp;
  }
  registry_.Release(ids_, record_->name());
  released_ = true;
  record_->Update([](v1::Session& s) { s.set_committed(true); });
  PublishDevices(resp.error().empty() ? v1::PHASE_COMPLETED : v1::PHASE_FAILED,
                 resp.error());
  decision_.Decide(Decision::kCommitted, resp);
  return resp;
}

void DestinationSession::set_source(std::string source) {
  decision_.set_source(std::move(source));
}

absl::StatusOr<v1::AbortResponse> DestinationSession::Abort(
    const v1::AbortRequest& req) {
  decision_.Touch();
  const std::string why = absl::StrCat("source aborted: ", req.reason());
  if (decision_.Fence(why) == Decision::kNone) {
    absl::MutexLock lock(&mu_);
    if (!released_) RollBack(v1::PHASE_FAILED, why);
  }
  return decision_.AbortAnswer();
}

v1::HeartbeatResponse DestinationSession::Heartbeat() {
  return decision_.Heartbeat();
}

absl::Status DestinationSession::Cancel(const std::string& why) {
  const Decision was = decision_.Fence(why);
  if (was != Decision::kNone) {
    return absl::FailedPreconditionError(absl::StrCat(
        record_->name(), was == Decision::kAborted
                             ? " has already ended"
                             : " has begun its commit: the destination "
                               "owns the devices' state"));
  }
  absl::MutexLock lock(&mu_);
  if (!released_) RollBack(v1::PHASE_CANCELLED, why);
  return absl::OkStatus();
}

absl::Status DestinationSession::EndedError() const {
  const v1::Session now = record_->Snapshot();
  if (!IsTerminal(now.phase())) return absl::OkStatus();
  // The words the source's heartbeat would bring: the same cause, at once.
  return absl::AbortedError(absl::StrCat(
      "the destination ended the session (", v1::Phase_Name(now.phase()),
      "): ", now.error().empty() ? "no reason given" : now.error()));
}

std::string DestinationSession::FailedStream() {
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (streams_[i]->state() == dataplane::Stream::kFailed) {
      return absl::StrCat("devices/", ids_[i], ": ",
                          streams_[i]->error().message());
    }
  }
  return "";
}

void DestinationSession::MarkQueued(size_t place) {
  if (!decision_.Requeue()) return;
  record_->Update([&](v1::Session& p) {
    if (IsTerminal(p.phase())) return;
    p.set_phase(v1::PHASE_QUEUED);
    p.set_queue_position(static_cast<uint32_t>(place));
  });
}

void DestinationSession::ExpireAfter(absl::Duration d) {
  decision_.ExpireAfter(d);
}

absl::Time DestinationSession::CheckHealth(absl::Time now,
                                           absl::Duration liveness) {
  const CommitDecision::Health h = decision_.Check(now, liveness);
  std::string why = h.why;
  if (why.empty()) {
    if (!h.look_at_streams) return h.next;
    // Busy with the peer's call: look again at the next check.
    if (!mu_.TryLock()) return h.next;
    why = FailedStream();
    mu_.Unlock();
    if (why.empty()) return h.next;
  }
  if (decision_.Fence(why) == Decision::kNone) {
    spdlog::warn("{}: {}", record_->name(), why);
    if (h.silent) events_.PeerSilent(v1::ROLE_DESTINATION);
    absl::MutexLock lock(&mu_);
    if (!released_) RollBack(v1::PHASE_FAILED, why);
  }
  return absl::InfiniteFuture();
}

void DestinationSession::CancelStreams() {
  // Workers may be writing into the data sessions (streams_[i] writes
  // incoming_[i]): wait until they let go. A stream whose worker stalled
  // past the wait keeps its data session until the worker releases it.
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (streams_[i]->CancelAndWait(
            absl::Seconds(5), i < incoming_.size() ? &incoming_[i] : nullptr))
      continue;
    spdlog::warn(
        "{}: stream {}: the data plane's worker did not let go within 5s; "
        "its data session is closed when it does",
        record_->name(), i);
  }
  streams_.clear();
  if (probe_) probe_->CancelAndWait(absl::Seconds(5), &probe_sink_);
  probe_.reset();
  probe_sink_.reset();
}

void DestinationSession::RollBack(v1::Phase phase, const std::string& why) {
  CancelStreams();
  incoming_.clear();
  if (absl::Status r = group_.Recover(); !r.ok())
    spdlog::error("{}: {}", record_->name(), r.message());
  if (!released_) registry_.Release(ids_, record_->name());
  released_ = true;
  PublishDevices(phase, why);
}

absl::Status DestinationSession::Report(const v1::ReportRequest& req) {
  if (!decision_.committed()) {
    return absl::FailedPreconditionError(
        absl::StrCat(record_->name(), " has not committed: no report"));
  }
  record_->Update([&](v1::Session& p) { *p.mutable_report() = req.report(); });
  // What the source measured of its classes, this session included: one
  // entry per device at most (a peer cannot flood the history).
  if (history_) {
    size_t devices = 0;
    {
      absl::MutexLock lock(&mu_);
      devices = ids_.size();
    }
    for (int i = 0; i < req.measures_size() && static_cast<size_t>(i) < devices;
         ++i)
      history_->Learn(req.measures(i), Origin::kPeer);
  }
  return absl::OkStatus();
}

}  // namespace vmig::daemon
