#include "daemon/session_manager.h"

#include <time.h>

#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "daemon/config.h"
#include "daemon/proto_convert.h"
#include "daemon/source_engine.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

void ParallelFor(size_t n, const std::function<void(size_t)>& f) {
  if (n == 1) {
    f(0);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(f, i);
  for (auto& t : threads) t.join();
}

bool IsTerminal(v1::Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_CANCELLED ||
         p == v1::PHASE_FAILED;
}

SessionRecord::SessionRecord(std::string id, v1::Role role)
    : id_(std::move(id)), role_(role) {
  absl::MutexLock lock(&mu_);
  session_.set_name(name());
  session_.set_role(role);
  ToProto(absl::Now(), session_.mutable_create_time());
  *session_.mutable_update_time() = session_.create_time();
}

v1::Session SessionRecord::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return session_;
}

v1::Phase SessionRecord::phase() const {
  absl::MutexLock lock(&mu_);
  return session_.phase();
}

void SessionRecord::Update(const std::function<void(v1::Session&)>& change) {
  absl::MutexLock lock(&mu_);
  const v1::Phase before = session_.phase();
  change(session_);
  ToProto(absl::Now(), session_.mutable_update_time());
  ++version_;
  if (session_.phase() != before) {
    spdlog::info(
        "{}: phase {} -> {}{}", name(), v1::Phase_Name(before),
        v1::Phase_Name(session_.phase()),
        session_.error().empty() ? "" : absl::StrCat(": ", session_.error()));
  }
  changed_.SignalAll();
}

uint64_t SessionRecord::WaitForChange(uint64_t seen, absl::Time until) const {
  absl::MutexLock lock(&mu_);
  while (version_ == seen && absl::Now() < until) {
    changed_.WaitWithDeadline(&mu_, until);
  }
  return version_;
}

SessionManager::SessionManager(DeviceRegistry& devices,
                               const v1::LimitsConfig& limits,
                               dataplane::Transport* transport)
    : devices_(devices),
      limits_(limits),
      transport_(transport),
      history_(std::make_unique<EngineHistory>()) {}

SessionManager::~SessionManager() { CancelAll(); }

absl::StatusOr<std::shared_ptr<SessionRecord>> SessionManager::Find(
    absl::string_view name, absl::string_view field) {
  absl::StatusOr<std::string> id = ParseResourceName(name, "sessions", field);
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(*id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("session sessions/", *id, " not found"));
  }
  return it->second;
}

absl::Status SessionManager::AdmitNew(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (sessions_.count(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("session sessions/", id, " already exists"));
  }
  size_t active = 0, terminal = 0;
  for (const auto& [_, s] : sessions_)
    (IsTerminal(s->phase()) ? terminal : active)++;
  if (active >= limits_.max_sessions()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the daemon runs its limit of ", limits_.max_sessions(), " sessions"));
  }
  // Finished sessions stay readable, but only as many as the limit.
  if (terminal >= limits_.max_sessions()) {
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (IsTerminal(it->second->phase())) {
        sessions_.erase(it);
        break;
      }
    }
  }
  return absl::OkStatus();
}

void SessionManager::Register(std::shared_ptr<SessionRecord> s) {
  absl::MutexLock lock(&mu_);
  sessions_[s->id()] = std::move(s);
}

namespace {

absl::Status ValidateSessionId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (!IsValidId(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session_id: '", id, "' must be 1-64 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Session> SessionManager::PrepareIncoming(
    const v1::PrepareIncomingRequest& req) {
  if (absl::Status s = ValidateSessionId(req.session_id()); !s.ok()) return s;
  if (req.devices().empty()) {
    return absl::InvalidArgumentError(
        "devices: at least one device is required");
  }
  std::set<std::string> seen;
  for (const std::string& d : req.devices()) {
    if (!IsValidId(d))
      return absl::InvalidArgumentError(
          absl::StrCat("devices: bad id '", d, "'"));
    if (!seen.insert(d).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices: '", d, "' is listed twice"));
    }
  }
  if (absl::Status s = AdmitNew(req.session_id()); !s.ok()) return s;
  auto session =
      std::make_shared<SessionRecord>(req.session_id(), v1::ROLE_DESTINATION);
  session->device_ids.assign(req.devices().begin(), req.devices().end());
  absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>> claimed =
      devices_.Claim(session->device_ids, session->name());
  if (!claimed.ok()) return claimed.status();
  session->devices = std::move(*claimed);

  // Every device -> RESUMING, in parallel.
  const size_t n = session->devices.size();
  session->incoming.resize(n);
  std::vector<absl::Status> results(n);
  ParallelFor(n, [&](size_t i) {
    auto s = session->devices[i]->SetState(vfio::DeviceState::kResuming);
    if (!s.ok()) {
      results[i] = s.status();
    } else if (!*s) {
      results[i] = absl::InternalError("RESUMING opened no data session");
    } else {
      session->incoming[i] = std::move(*s);
    }
  });
  std::vector<std::string> errors;
  for (size_t i = 0; i < n; ++i) {
    if (!results[i].ok()) {
      errors.push_back(
          absl::StrCat(session->device_ids[i], ": ", results[i].message()));
    }
  }
  if (!errors.empty()) {
    const std::string why = absl::StrJoin(errors, "; ");
    RollBackDestination(*session, v1::PHASE_FAILED, why);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot move devices to RESUMING: ", why));
  }
  session->leave_stopped = req.leave_stopped();
  session->Update([&](v1::Session& s) {
    s.set_phase(v1::PHASE_PREPARED);
    s.set_data_endpoint(req.data_endpoint());
    s.set_leave_stopped(req.leave_stopped());
    for (const std::string& id : session->device_ids) {
      auto* d = s.add_devices();
      d->set_device(absl::StrCat("devices/", id));
      d->set_state(v1::DEVICE_STATE_RESUMING);
    }
  });
  Register(session);
  return session->Snapshot();
}

absl::StatusOr<v1::Session> SessionManager::StartMigration(
    const v1::StartMigrationRequest& req) {
  if (absl::Status s = ValidateSessionId(req.session_id()); !s.ok()) return s;
  if (req.peer().empty()) return absl::InvalidArgumentError("peer: required");
  if (req.devices().empty()) {
    return absl::InvalidArgumentError(
        "devices: at least one device mapping is required");
  }
  if (!req.has_downtime_budget()) {
    return absl::InvalidArgumentError("downtime_budget: required");
  }
  const absl::Duration budget = FromProto(req.downtime_budget());
  if (budget < absl::Milliseconds(1) || budget > absl::Seconds(60)) {
    return absl::InvalidArgumentError(
        absl::StrCat("downtime_budget: ", absl::FormatDuration(budget),
                     " is outside 1ms..60s"));
  }
  if (req.precopy().has_max_precopy()) {
    const absl::Duration m = FromProto(req.precopy().max_precopy());
    if (m <= absl::ZeroDuration() || m > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          "precopy.max_precopy: must be in (0, 24h]");
    }
  }
  std::set<std::string> sources, destinations;
  std::vector<std::shared_ptr<vfio::MigrationDevice>> devs;
  std::vector<std::string> no_p2p;
  for (int i = 0; i < req.devices_size(); ++i) {
    const auto& m = req.devices(i);
    std::string src = m.source();
    absl::string_view sv = src;
    if (absl::ConsumePrefix(&sv, "devices/")) src = std::string(sv);
    if (!IsValidId(src) || !IsValidId(m.destination())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices[", i, "]: source and destination must be device ids"));
    }
    if (!sources.insert(src).second ||
        !destinations.insert(m.destination()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices[", i, "]: a device is mapped twice"));
    }
    absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> d =
        devices_.Find(src);
    if (!d.ok()) return d.status();
    absl::StatusOr<vfio::MigrationFlags> f = (*d)->GetMigrationFlags();
    if (!f.ok()) return absl::FailedPreconditionError(f.status().message());
    if (!f->has(vfio::kMigP2P)) no_p2p.push_back(src);
  }
  // Devices may DMA into each other: stopping several safely needs the P2P
  // quiescent states on every one of them (QEMU refuses likewise).
  if (req.devices_size() > 1 && !no_p2p.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a session of several devices needs P2P support on all of them; ",
        absl::StrJoin(no_p2p, ", "), " lack", no_p2p.size() == 1 ? "s" : "",
        " it (VFIO_MIGRATION_P2P)"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (sessions_.count(req.session_id())) {
      return absl::AlreadyExistsError(absl::StrCat(
          "session sessions/", req.session_id(), " already exists"));
    }
  }
  if (!transport_) {
    return absl::FailedPreconditionError(
        "this daemon has no data plane: configure dataplane.ports to migrate");
  }
  if (absl::Status s = AdmitNew(req.session_id()); !s.ok()) return s;
  auto session =
      std::make_shared<SessionRecord>(req.session_id(), v1::ROLE_SOURCE);
  for (const auto& m : req.devices()) {
    absl::string_view id = m.source();
    absl::ConsumePrefix(&id, "devices/");
    session->device_ids.emplace_back(id);
  }
  absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>> claimed =
      devices_.Claim(session->device_ids, session->name());
  if (!claimed.ok()) return claimed.status();
  session->devices = std::move(*claimed);
  session->Update([&](v1::Session& s) {
    s.set_phase(v1::PHASE_HANDSHAKE);
    s.set_peer(req.peer());
    s.set_data_endpoint(req.data_endpoint());
    *s.mutable_downtime_budget() = req.downtime_budget();
    s.set_switchover_mode(req.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL
                              ? v1::SWITCHOVER_MODE_MANUAL
                              : v1::SWITCHOVER_MODE_AUTO);
  });
  Register(session);
  const v1::Session snapshot = session->Snapshot();
  absl::MutexLock lock(&engines_mu_);
  engines_.emplace_back([session, req, this] {
    SourceEngine(session, req, *transport_, devices_, *history_).Run();
  });
  return snapshot;
}

absl::StatusOr<v1::Session> SessionManager::Switchover(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name, "name");
  if (!s.ok()) return s.status();
  const v1::Phase phase = (*s)->phase();
  if ((*s)->role() != v1::ROLE_SOURCE ||
      (phase != v1::PHASE_READY && phase != v1::PHASE_PRECOPY)) {
    return absl::FailedPreconditionError(absl::StrCat(
        (*s)->name(), " is a ", v1::Role_Name((*s)->role()), " session in ",
        v1::Phase_Name(phase),
        "; Switchover needs a source session in PRECOPY or READY"));
  }
  (*s)->switchover_requested.store(true);
  return (*s)->Snapshot();
}

void SessionManager::CancelStreams(SessionRecord& s) {
  // Workers may be writing into the data sessions: wait until they let go.
  for (auto& st : s.streams) st->CancelAndWait(absl::Seconds(5));
  s.streams.clear();
}

void SessionManager::RollBackDestination(SessionRecord& s, v1::Phase phase,
                                         const std::string& why) {
  // A reset aborts RESUMING and leaves the device RUNNING with its own state.
  CancelStreams(s);
  s.incoming.clear();
  ParallelFor(s.devices.size(), [&](size_t i) {
    if (absl::Status r = s.devices[i]->Reset(); !r.ok()) {
      spdlog::error("{}: reset of {} failed: {}", s.name(), s.device_ids[i],
                    r.message());
    }
  });
  devices_.Release(s.device_ids, s.name());
  s.Update([&](v1::Session& p) {
    p.set_phase(phase);
    if (!why.empty()) p.set_error(why);
    for (int i = 0; i < p.devices_size(); ++i) {
      p.mutable_devices(i)->set_state(v1::DEVICE_STATE_RUNNING);
    }
  });
}

absl::StatusOr<v1::Session> SessionManager::Cancel(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name, "name");
  if (!s.ok()) return s.status();
  const v1::Phase phase = (*s)->phase();
  if (IsTerminal(phase)) {
    return absl::FailedPreconditionError(absl::StrCat(
        (*s)->name(), " has already ended (", v1::Phase_Name(phase), ")"));
  }
  if ((*s)->role() == v1::ROLE_DESTINATION) {
    absl::MutexLock lock(&(*s)->op_mu);
    if (IsTerminal((*s)->phase())) {
      return absl::FailedPreconditionError(
          absl::StrCat((*s)->name(), " has already ended"));
    }
    RollBackDestination(**s, v1::PHASE_CANCELLED, "cancelled");
    return (*s)->Snapshot();
  }
  if ((*s)->committing.load()) {
    return absl::FailedPreconditionError(absl::StrCat(
        (*s)->name(),
        " is committing: the destination owns the devices' state now"));
  }
  (*s)->cancel_requested.store(true);
  // The engine rolls back at its next step; wait for it (bounded).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  uint64_t seen = 0;
  while (!IsTerminal((*s)->phase()) && absl::Now() < deadline) {
    seen = (*s)->WaitForChange(seen, absl::Now() + absl::Milliseconds(50));
  }
  return (*s)->Snapshot();
}

absl::StatusOr<v1::Session> SessionManager::Get(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name, "name");
  if (!s.ok()) return s.status();
  return (*s)->Snapshot();
}

std::vector<v1::Session> SessionManager::List() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Session> out;
  for (const auto& [_, s] : sessions_) out.push_back(s->Snapshot());
  return out;
}

std::string SessionManager::NameOfWireSession(uint32_t wire_session_id) {
  absl::MutexLock lock(&mu_);
  for (const auto& [_, s] : sessions_) {
    if (wire_session_id != 0 && s->wire_session_id == wire_session_id)
      return s->name();
  }
  return "";
}

absl::Status SessionManager::Watch(
    absl::string_view name, absl::Duration interval,
    const std::function<bool(const v1::SessionEvent&)>& send,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name, "name");
  if (!s.ok()) return s.status();
  if (watchers_.fetch_add(1) >= limits_.max_watchers()) {
    watchers_.fetch_sub(1);
    return absl::ResourceExhaustedError(
        absl::StrCat("the daemon serves its limit of ", limits_.max_watchers(),
                     " watchers"));
  }
  uint64_t seen = ~uint64_t{0};
  absl::Status result = absl::OkStatus();
  for (;;) {
    // Wake at least every 100ms to notice a client that went away.
    seen = (*s)->WaitForChange(
        seen, absl::Now() + std::min(interval, absl::Milliseconds(100)));
    if (cancelled()) {
      result = absl::CancelledError("watcher went away");
      break;
    }
    v1::SessionEvent ev;
    ToProto(absl::Now(), ev.mutable_time());
    *ev.mutable_session() = (*s)->Snapshot();
    if (!send(ev)) break;
    if (IsTerminal(ev.session().phase())) break;
    absl::SleepFor(interval);
  }
  watchers_.fetch_sub(1);
  return result;
}

void SessionManager::CancelAll() {
  std::vector<std::shared_ptr<SessionRecord>> active;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [_, s] : sessions_) {
      if (!IsTerminal(s->phase())) active.push_back(s);
    }
  }
  for (const auto& s : active) (void)Cancel(s->name());
  std::vector<std::thread> engines;
  {
    absl::MutexLock lock(&engines_mu_);
    engines.swap(engines_);
  }
  for (auto& t : engines) t.join();
}

}  // namespace vmig::daemon
