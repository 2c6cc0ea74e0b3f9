#include "daemon/destination/destination_session.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/fmt_absl.h"
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
      events_(events) {
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
  (void)Fence("daemon shutting down");
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
    (void)Fence(std::string(s.message()));
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
  Touch();
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
  for (double w : WriteRates()) resp.add_write_bytes_per_second(w);
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

bool DestinationSession::AnyRan() {
  for (size_t i = 0; i < group_.size(); ++i) {
    absl::StatusOr<DeviceState> st = group_[i].device->GetState();
    // A device whose state cannot be read may have run.
    if (!st.ok() || *st == DeviceState::kRunning ||
        *st == DeviceState::kRunningP2P || *st == DeviceState::kPreCopy ||
        *st == DeviceState::kPreCopyP2P) {
      return true;
    }
  }
  return false;
}

v1::CommitResponse DestinationSession::LoadAndResume(bool serial) {
  const auto schedule = serial ? DeviceGroup::Schedule::kSerial
                               : DeviceGroup::Schedule::kParallel;
  v1::CommitResponse resp;
  const absl::Time t0 = absl::Now();
  if (absl::Status s = group_.MoveAll(DeviceState::kStop, schedule, nullptr);
      !s.ok()) {
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(absl::StrCat("load failed: ", s.message(),
                                "; no destination device ran"));
    return resp;
  }
  const absl::Time loaded = absl::Now();
  // On disk before any device runs: a daemon restarted from here on knows
  // the state is the destination's.
  if (absl::Status j = record_->MarkCommit(v1::JournalSession::COMMIT_BEGUN);
      !j.ok()) {
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(
        absl::StrCat("journal: ", j.message(), "; no destination device ran"));
    return resp;
  }
  // Resume in lockstep: every device RUNNING_P2P before any is RUNNING.
  absl::Status resumed =
      group_.MoveAll(DeviceState::kRunningP2P, schedule, nullptr);
  if (!resumed.ok() && !AnyRan()) {
    // Nothing ran: the source still holds the only running copy. On disk
    // before the answer: a restart that found COMMIT_BEGUN last would finish
    // the commit while the source resumes its copy.
    if (absl::Status j =
            record_->MarkCommit(v1::JournalSession::COMMIT_ABORTED);
        !j.ok()) {
      spdlog::critical(
          "{}: journal: {}: the abandoned commit is not on disk; if this host "
          "loses power before it is, a restart finishes the commit",
          record_->name(), j.message());
    }
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(absl::StrCat("resume failed: ", resumed.message(),
                                "; no destination device ran"));
    return resp;
  }
  // A device ran: the state is the destination's now, whatever follows, and
  // nothing is reset behind the caller's back.
  group_.SetRecovery(vfio::Recovery::kKeep);
  if (resumed.ok() && !leave_stopped_)
    resumed = group_.MoveAll(DeviceState::kRunning, schedule, nullptr);
  if (!resumed.ok()) {
    resp.set_error(
        absl::StrCat("resume failed after devices ran: ", resumed.message(),
                     "; the destination owns the state"));
    spdlog::error("{}: {}", record_->name(), resp.error());
  }
  resp.set_outcome(v1::COMMIT_OUTCOME_COMMITTED);
  resp.set_last_running_mono_ns(MonotonicNanos());
  resp.set_load_ns(absl::ToInt64Nanoseconds(loaded - t0));
  resp.set_resume_ns(absl::ToInt64Nanoseconds(absl::Now() - loaded));
  return resp;
}

absl::StatusOr<v1::CommitResponse> DestinationSession::Commit(
    const v1::CommitRequest& req, absl::Time deadline) {
  {
    absl::MutexLock st(&state_mu_);
    last_contact_ = absl::Now();
    switch (decision_) {
      case Decision::kCommitted:
      case Decision::kAborted:
        return answer_;  // asked again: the same answer
      case Decision::kCommitting:
        return absl::UnavailableError(
            absl::StrCat("the commit of ", record_->name(),
                         " is in progress; Abort answers its outcome"));
      case Decision::kNone:
        break;
    }
    if (!handshaken_) {
      return absl::FailedPreconditionError(absl::StrCat(
          record_->name(), " is ", v1::Phase_Name(record_->phase()),
          ": nothing to commit"));
    }
    if (absl::Now() >= deadline) {
      return absl::FailedPreconditionError(
          "the caller's deadline passed before the commit began: nothing "
          "was done");
    }
    decision_ = Decision::kCommitting;
  }
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
      const std::vector<double> rates = WriteRates();
      for (size_t i = 0; i < rates.size(); ++i)
        history_->RecordWrite(history_keys_[i], rates[i]);
    }
    record_->Update([](v1::Session& p) { p.set_phase(v1::PHASE_SWITCHOVER); });
    CancelStreams();
    incoming_.clear();
    resp = LoadAndResume(req.serial());
    resp.set_written_ns(absl::ToInt64Nanoseconds(written - arrived));
    resp.set_total_ns(absl::ToInt64Nanoseconds(absl::Now() - arrived));
  }
  if (resp.outcome() == v1::COMMIT_OUTCOME_ABORTED) {
    RollBack(v1::PHASE_FAILED, resp.error());
    Decide(Decision::kAborted, resp);
    return resp;
  }
  registry_.Release(ids_, record_->name());
  released_ = true;
  record_->Update([](v1::Session& s) { s.set_committed(true); });
  PublishDevices(resp.error().empty() ? v1::PHASE_COMPLETED : v1::PHASE_FAILED,
                 resp.error());
  Decide(Decision::kCommitted, resp);
  return resp;
}

void DestinationSession::Decide(Decision d, const v1::CommitResponse& resp) {
  absl::MutexLock st(&state_mu_);
  decision_ = d;
  answer_ = resp;
}

DestinationSession::Decision DestinationSession::Fence(const std::string& why) {
  absl::MutexLock st(&state_mu_);
  const Decision was = decision_;
  if (was == Decision::kNone) {
    decision_ = Decision::kAborted;
    answer_.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    answer_.set_error(why);
  }
  return was;
}

v1::CommitOutcome DestinationSession::Outcome() const {
  switch (decision_) {
    case Decision::kNone:
      return v1::COMMIT_OUTCOME_NONE;
    case Decision::kCommitting:
      return v1::COMMIT_OUTCOME_IN_PROGRESS;
    case Decision::kCommitted:
      return v1::COMMIT_OUTCOME_COMMITTED;
    case Decision::kAborted:
      return v1::COMMIT_OUTCOME_ABORTED;
  }
  return v1::COMMIT_OUTCOME_NONE;
}

void DestinationSession::Touch() {
  absl::MutexLock st(&state_mu_);
  last_contact_ = absl::Now();
}

void DestinationSession::set_source(std::string source) {
  absl::MutexLock st(&state_mu_);
  source_ = std::move(source);
}

absl::StatusOr<v1::AbortResponse> DestinationSession::Abort(
    const v1::AbortRequest& req) {
  Touch();
  const std::string why = absl::StrCat("source aborted: ", req.reason());
  if (Fence(why) == Decision::kNone) {
    absl::MutexLock lock(&mu_);
    if (!released_) RollBack(v1::PHASE_FAILED, why);
  }
  absl::MutexLock st(&state_mu_);
  v1::AbortResponse resp;
  resp.set_outcome(Outcome());
  if (decision_ == Decision::kCommitted || decision_ == Decision::kAborted)
    *resp.mutable_commit() = answer_;
  return resp;
}

v1::HeartbeatResponse DestinationSession::Heartbeat() {
  absl::MutexLock st(&state_mu_);
  last_contact_ = absl::Now();
  const v1::Session now = record_->Snapshot();
  v1::HeartbeatResponse resp;
  resp.set_phase(now.phase());
  resp.set_error(now.error());
  resp.set_outcome(Outcome());
  // Fenced, but the rollback has not published its phase yet: the fence's
  // reason is the answer already (a source must not read "no reason").
  if (decision_ == Decision::kAborted && !IsTerminal(now.phase())) {
    resp.set_phase(v1::PHASE_FAILED);
    resp.set_error(answer_.error());
  }
  return resp;
}

absl::Status DestinationSession::Cancel(const std::string& why) {
  const Decision was = Fence(why);
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
  {
    absl::MutexLock st(&state_mu_);
    if (decision_ != Decision::kNone || handshaken_) return;
    if (expiry_ != absl::InfiniteFuture())
      expiry_ = absl::Now() + expire_after_;
  }
  record_->Update([&](v1::Session& p) {
    if (IsTerminal(p.phase())) return;
    p.set_phase(v1::PHASE_QUEUED);
    p.set_queue_position(static_cast<uint32_t>(place));
  });
}

void DestinationSession::ExpireAfter(absl::Duration d) {
  absl::MutexLock st(&state_mu_);
  expire_after_ = d;
  expiry_ = absl::Now() + d;
}

absl::Time DestinationSession::CheckHealth(absl::Time now,
                                           absl::Duration liveness) {
  std::string why;
  bool silent = false;
  absl::Time next = absl::InfiniteFuture();
  {
    absl::MutexLock st(&state_mu_);
    if (decision_ != Decision::kNone) return absl::InfiniteFuture();
    if (!handshaken_) {
      if (now < expiry_) return expiry_;
      why = absl::StrCat("no source joined within ",
                         absl::FormatDuration(expire_after_),
                         " (limits.prepared_expiry_ms): expired, its devices "
                         "reset and released");
    } else if (now - last_contact_ > liveness) {
      silent = true;
      why = absl::StrCat(source_, " silent for ",
                         absl::FormatDuration(now - last_contact_),
                         " (liveness bound ", absl::FormatDuration(liveness),
                         "): rolled back before the commit");
    } else {
      next = now;  // handshaken: looked at every tick
    }
  }
  if (why.empty()) {
    // Busy with the peer's call: look again at the next check.
    if (!mu_.TryLock()) return next;
    why = FailedStream();
    mu_.Unlock();
    if (why.empty()) return next;
  }
  if (Fence(why) == Decision::kNone) {
    spdlog::warn("{}: {}", record_->name(), why);
    if (silent) events_.PeerSilent(v1::ROLE_DESTINATION);
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

void DestinationSession::PublishDevices(v1::Phase phase,
                                        const std::string& error) {
  // The states the devices are really in, read back (a resume that failed
  // shows as such).
  std::vector<v1::DeviceState> states;
  for (size_t i = 0; i < group_.size(); ++i) {
    absl::StatusOr<DeviceState> st = group_[i].device->GetState();
    states.push_back(st.ok() ? ToProto(*st) : v1::DEVICE_STATE_UNSPECIFIED);
  }
  record_->Update([&](v1::Session& p) {
    p.set_phase(phase);
    if (!error.empty()) p.set_error(error);
    // Progress the devices showed stays (what was written, how fast).
    std::vector<v1::DeviceProgress> before(p.devices().begin(),
                                           p.devices().end());
    p.clear_devices();
    for (size_t i = 0; i < ids_.size(); ++i) {
      auto* d = p.add_devices();
      const std::string name = absl::StrCat("devices/", ids_[i]);
      for (const v1::DeviceProgress& b : before) {
        if (b.device() == name) *d = b;
      }
      d->set_device(name);
      d->set_state(states[i]);
    }
  });
}

}  // namespace vmig::daemon
