#include "daemon/session/session_manager.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "daemon/config.h"
#include "daemon/session/memory_trim.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {
namespace {

absl::Status ValidateSessionId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("session_id: required");
  if (!IsValidId(id)) {
    return absl::InvalidArgumentError(
        "session_id: must be 1-64 characters of [A-Za-z0-9._-]");
  }
  return absl::OkStatus();
}

absl::Status ValidateStartRequest(const v1::StartMigrationRequest& req) {
  if (absl::Status s = ValidateSessionId(req.session_id()); !s.ok()) return s;
  if (req.peer().empty()) return absl::InvalidArgumentError("peer: required");
  if (req.devices().empty()) {
    return absl::InvalidArgumentError(
        "devices: at least one device mapping is required");
  }
  if (!req.has_downtime_budget()) {
    return absl::InvalidArgumentError("downtime_budget: required");
  }
  if (absl::Status s = ValidateBudget(req.downtime_budget()); !s.ok()) return s;
  if (absl::Status s = ValidateBandwidth("max_bandwidth", req.max_bandwidth());
      !s.ok())
    return s;
  if (absl::Status s =
          ValidateBandwidth("switchover_bandwidth", req.switchover_bandwidth());
      !s.ok())
    return s;
  return ValidatePrecopy(req.precopy());
}

}  // namespace

SessionManager::SessionManager(DeviceRegistry& devices,
                               const v1::LimitsConfig& limits,
                               std::vector<dataplane::Transport*> transports,
                               PeerClientFactory peer_clients,
                               EngineTunables tunables, Clock& clock,
                               absl::Duration liveness)
    : devices_(devices),
      limits_(limits),
      transports_(std::move(transports)),
      peer_clients_(std::move(peer_clients)),
      tunables_(tunables),
      clock_(clock),
      outgoing_(limits.max_outgoing_sessions()),
      incoming_(limits.max_incoming_sessions()),
      liveness_(liveness) {
  health_ = std::thread([this] { WatchDestinations(); });
}

SessionManager::~SessionManager() {
  CancelAll();
  {
    absl::MutexLock lock(&health_mu_);
    health_stop_ = true;
    health_cv_.Signal();
  }
  health_.join();
}

absl::StatusOr<std::shared_ptr<SessionRecord>> SessionManager::Find(
    absl::string_view name) {
  absl::StatusOr<std::string> id = ParseResourceName(name, "sessions", "name");
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(*id);
  if (it == sessions_.end() ||
      it->second.record->phase() == v1::PHASE_UNSPECIFIED) {
    return absl::NotFoundError(
        absl::StrCat("session sessions/", *id, " not found"));
  }
  return it->second.record;
}

absl::StatusOr<std::shared_ptr<SessionRecord>> SessionManager::Reserve(
    const std::string& id, v1::Role role, const std::string& request_id,
    bool* retry) {
  *retry = false;
  if (!request_id.empty() && !IsValidId(request_id)) {
    return absl::InvalidArgumentError(
        "request_id: must be 1-64 characters of [A-Za-z0-9._-]");
  }
  absl::MutexLock lock(&mu_);
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    if (!request_id.empty() && it->second.request_id == request_id &&
        it->second.record->role() == role) {
      *retry = true;
      return it->second.record;
    }
    return absl::AlreadyExistsError(
        absl::StrCat("session sessions/", id, " already exists"));
  }
  size_t active = 0;
  for (const auto& [_, e] : sessions_) {
    if (!IsTerminal(e.record->phase())) ++active;
  }
  if (active >= limits_.max_sessions()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the daemon runs its limit of ", limits_.max_sessions(), " sessions"));
  }
  // Room for this one among the finished sessions kept.
  EvictFinishedLocked(limits_.max_sessions() - 1);
  auto record = std::make_shared<SessionRecord>(id, role);
  Journalled(*record);
  record->set_phase_observer(
      [events = events_](v1::Phase from, const v1::Session& now) {
        events->PhaseChanged(from, now);
      });
  sessions_[id] = Entry{record, nullptr, request_id};
  return record;
}

absl::StatusOr<v1::Session> SessionManager::AnswerRetry(
    const SessionRecord& record) {
  if (record.phase() == v1::PHASE_UNSPECIFIED) {
    return absl::UnavailableError(
        absl::StrCat(record.name(),
                     ": the first call with this request_id is still "
                     "setting it up; retry"));
  }
  return record.Snapshot();
}

void SessionManager::Unreserve(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

absl::StatusOr<dataplane::Transport*> SessionManager::DataEndpoint(
    const std::string& endpoint) const {
  if (transports_.empty()) {
    return absl::FailedPreconditionError(
        "this daemon has no data plane: configure dataplane.ports to migrate");
  }
  if (endpoint.empty()) return transports_.front();
  std::vector<std::string> names;
  for (dataplane::Transport* t : transports_) {
    if (t->config().port.name == endpoint) return t;
    names.push_back(t->config().port.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("data_endpoint: names no data-plane port of this daemon "
                   "(its ports: ",
                   absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<v1::Session> SessionManager::PrepareIncoming(
    const v1::PrepareIncomingRequest& req) {
  if (absl::Status s = ValidateSessionId(req.session_id()); !s.ok()) return s;
  if (req.devices().empty()) {
    return absl::InvalidArgumentError(
        "devices: at least one device is required");
  }
  std::set<std::string> seen;
  for (int i = 0; i < req.devices_size(); ++i) {
    const std::string& d = req.devices(i);
    if (!IsValidId(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices[", i, "]: not a device id"));
    }
    if (!seen.insert(d).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices: '", d, "' is listed twice"));
    }
  }
  absl::StatusOr<dataplane::Transport*> transport =
      DataEndpoint(req.data_endpoint());
  if (!transport.ok()) return transport.status();
  bool retry = false;
  absl::StatusOr<std::shared_ptr<SessionRecord>> record =
      Reserve(req.session_id(), v1::ROLE_DESTINATION, req.request_id(), &retry);
  if (!record.ok()) return record.status();
  if (retry) return AnswerRetry(**record);
  std::vector<std::string> ids(req.devices().begin(), req.devices().end());
  absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>> claimed =
      devices_.Claim(ids, (*record)->name());
  if (!claimed.ok()) {
    Unreserve(req.session_id());
    return claimed.status();
  }
  (*record)->Update([&](v1::Session& s) {
    s.set_data_endpoint((*transport)->config().port.name);
  });
  auto session = std::make_shared<DestinationSession>(
      *record, std::move(ids), std::move(*claimed), req.leave_stopped(),
      *transport, devices_, &history_, *events_);
  if (absl::Status s = session->Prepare(); !s.ok()) {
    Unreserve(req.session_id());
    return s;
  }
  if (limits_.prepared_expiry_ms() > 0)
    session->ExpireAfter(absl::Milliseconds(limits_.prepared_expiry_ms()));
  {
    absl::MutexLock lock(&mu_);
    sessions_[req.session_id()].destination = session;
  }
  WakeHealth();  // its expiry is due some day
  return (*record)->Snapshot();
}

absl::StatusOr<v1::Session> SessionManager::StartMigration(
    const v1::StartMigrationRequest& req) {
  if (absl::Status s = ValidateStartRequest(req); !s.ok()) return s;
  std::set<std::string> sources, destinations;
  std::vector<std::string> ids, no_p2p;
  for (int i = 0; i < req.devices_size(); ++i) {
    const auto& m = req.devices(i);
    absl::string_view src = m.source();
    absl::ConsumePrefix(&src, "devices/");
    if (!IsValidId(src) || !IsValidId(m.destination())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices[", i, "]: source and destination must be device ids"));
    }
    if (!sources.insert(std::string(src)).second ||
        !destinations.insert(m.destination()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices[", i, "]: a device is mapped twice"));
    }
    absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> d =
        devices_.Find(src);
    if (!d.ok()) return d.status();
    absl::StatusOr<vfio::MigrationFlags> f = (*d)->GetMigrationFlags();
    if (!f.ok()) return absl::FailedPreconditionError(f.status().message());
    if (!f->has(vfio::kMigP2P)) no_p2p.emplace_back(src);
    ids.emplace_back(src);
  }
  // Devices may DMA into each other: stopping several safely needs the P2P
  // quiescent states on every one of them (QEMU refuses likewise).
  if (req.devices_size() > 1 && !no_p2p.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a session of several devices needs P2P support on all of them; ",
        absl::StrJoin(no_p2p, ", "), " lack", no_p2p.size() == 1 ? "s" : "",
        " it (VFIO_MIGRATION_P2P)"));
  }
  absl::StatusOr<dataplane::Transport*> transport =
      DataEndpoint(req.data_endpoint());
  if (!transport.ok()) return transport.status();
  if (!(*transport)->LinkUp()) {
    // A session would only stall: say so now, not after the stall timeout.
    return absl::UnavailableError(absl::StrCat(
        "data plane: port ", (*transport)->config().port.name,
        ": the link to the peer is down (its daemon is not running or not "
        "connected yet); retry once health reports vmig.dataplane SERVING"));
  }
  ReapEngines();
  absl::StatusOr<std::unique_ptr<PeerClient>> peer = peer_clients_(req.peer());
  if (!peer.ok()) return peer.status();
  bool retry = false;
  absl::StatusOr<std::shared_ptr<SessionRecord>> record =
      Reserve(req.session_id(), v1::ROLE_SOURCE, req.request_id(), &retry);
  if (!record.ok()) return record.status();
  if (retry) return AnswerRetry(**record);
  absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>> claimed =
      devices_.Claim(ids, (*record)->name());
  if (!claimed.ok()) {
    Unreserve(req.session_id());
    return claimed.status();
  }
  // In line behind the sessions already waiting, or a slot now.
  const size_t place = outgoing_.Join(req.session_id());
  (*record)->Update([&](v1::Session& s) {
    s.set_phase(place > 0 ? v1::PHASE_QUEUED : v1::PHASE_HANDSHAKE);
    s.set_queue_position(static_cast<uint32_t>(place));
    s.set_max_bandwidth(req.max_bandwidth());
    s.set_switchover_bandwidth(req.switchover_bandwidth());
    s.set_peer(req.peer());
    s.set_data_endpoint((*transport)->config().port.name);
    *s.mutable_downtime_budget() = req.downtime_budget();
    *s.mutable_precopy() = req.precopy();
    s.set_allow_budget_overrun(req.allow_budget_overrun());
    s.set_switchover_mode(req.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL
                              ? v1::SWITCHOVER_MODE_MANUAL
                              : v1::SWITCHOVER_MODE_AUTO);
  });
  const v1::Session snapshot = (*record)->Snapshot();
  auto engine = std::make_shared<SourceEngine>(
      *record, req, std::move(ids), std::move(*claimed), **transport, devices_,
      history_, std::move(*peer), clock_, tunables_, &outgoing_);
  engine->set_events(events_);
  auto done = std::make_shared<std::atomic<bool>>(false);
  absl::MutexLock lock(&engines_mu_);
  engines_.push_back({req.session_id(), engine, std::thread([engine, done] {
                        engine->Run();
                        done->store(true);
                      }),
                      done});
  return snapshot;
}

void SessionManager::EvictFinishedLocked(size_t keep) {
  // Finished sessions stay readable, as many as `keep`: the one that ended
  // longest ago goes first. (A finished session still holds what it
  // touched, its destination's devices among them: the bound matters.)
  std::vector<std::map<std::string, Entry>::iterator> terminal;
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (IsTerminal(it->second.record->phase())) terminal.push_back(it);
  }
  if (terminal.size() <= keep) return;
  std::sort(terminal.begin(), terminal.end(), [](auto a, auto b) {
    return a->second.record->update_time() < b->second.record->update_time();
  });
  for (size_t i = 0; i < terminal.size() - keep; ++i)
    sessions_.erase(terminal[i]);
}

void SessionManager::ReapEngines() {
  std::vector<std::thread> ended;
  {
    absl::MutexLock lock(&engines_mu_);
    for (auto it = engines_.begin(); it != engines_.end();) {
      if (it->done->load()) {
        ended.push_back(std::move(it->thread));
        it = engines_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& t : ended) t.join();  // returns at once: the body has ended
  if (!ended.empty()) ReturnFreedMemory();
}

absl::StatusOr<v1::Session> SessionManager::Switchover(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name);
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

absl::StatusOr<v1::Session> SessionManager::Cancel(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name);
  if (!s.ok()) return s.status();
  const v1::Phase phase = (*s)->phase();
  if (IsTerminal(phase)) {
    return absl::FailedPreconditionError(absl::StrCat(
        (*s)->name(), " has already ended (", v1::Phase_Name(phase), ")"));
  }
  if ((*s)->role() == v1::ROLE_DESTINATION) {
    absl::StatusOr<std::shared_ptr<DestinationSession>> d =
        FindDestination((*s)->id());
    if (!d.ok()) return d.status();
    if (absl::Status c = (*d)->Cancel("cancelled"); !c.ok()) return c;
    return (*s)->Snapshot();
  }
  if ((*s)->committing.load()) {
    return absl::FailedPreconditionError(absl::StrCat(
        (*s)->name(),
        " is committing: the destination owns the devices' state now"));
  }
  if (std::shared_ptr<SourceEngine> e = EngineOf((*s)->id())) {
    e->RequestCancel();
  } else {
    (*s)->cancel_requested.store(true);
  }
  // The engine rolls back at its next step; wait for it (bounded).
  (*s)->WaitTerminal(absl::Seconds(30));
  ReapEngines();
  return (*s)->Snapshot();
}

std::shared_ptr<SourceEngine> SessionManager::EngineOf(const std::string& id) {
  absl::MutexLock lock(&engines_mu_);
  for (const EngineThread& e : engines_) {
    if (e.id == id && !e.done->load()) return e.engine;
  }
  return nullptr;
}

absl::StatusOr<v1::Session> SessionManager::Resolve(
    absl::string_view name, v1::ResolveRequest::Decision decision) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name);
  if (!s.ok()) return s.status();
  if (decision != v1::ResolveRequest::DECISION_RESUME_SOURCE &&
      decision != v1::ResolveRequest::DECISION_DESTINATION_OWNS) {
    return absl::InvalidArgumentError(
        "decision: RESUME_SOURCE or DESTINATION_OWNS is required");
  }
  if ((*s)->role() != v1::ROLE_SOURCE || (*s)->phase() != v1::PHASE_IN_DOUBT) {
    return absl::FailedPreconditionError(
        absl::StrCat((*s)->name(), " is a ", v1::Role_Name((*s)->role()),
                     " session in ", v1::Phase_Name((*s)->phase()),
                     "; Resolve is for a source session in PHASE_IN_DOUBT"));
  }
  int expected = 0;
  if (!(*s)->resolution.compare_exchange_strong(expected,
                                                static_cast<int>(decision))) {
    return absl::FailedPreconditionError(
        absl::StrCat((*s)->name(), " was resolved already"));
  }
  (*s)->WaitTerminal(absl::Seconds(30));
  ReapEngines();
  return (*s)->Snapshot();
}

absl::StatusOr<v1::Session> SessionManager::Get(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name);
  if (!s.ok()) return s.status();
  return (*s)->Snapshot();
}

std::vector<v1::Session> SessionManager::List() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Session> out;
  for (const auto& [_, e] : sessions_) {
    v1::Session s = e.record->Snapshot();
    if (s.phase() != v1::PHASE_UNSPECIFIED) out.push_back(std::move(s));
  }
  return out;
}

std::string SessionManager::NameOfWireSession(uint32_t wire_session_id) {
  absl::MutexLock lock(&mu_);
  for (const auto& [_, e] : sessions_) {
    if (wire_session_id != 0 && e.record->wire_session_id == wire_session_id)
      return e.record->name();
  }
  return "";
}

absl::Status SessionManager::Watch(
    absl::string_view name, absl::Duration interval,
    const std::function<bool(const v1::SessionEvent&)>& send,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(name);
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
    // The interval between events, slept in slices: a client that left (or
    // a server shutting down, which cancels its calls) frees the watcher's
    // slot within 100ms whatever the interval (up to 10 minutes), and the
    // session's end is sent when it happens.
    const absl::Time next = absl::Now() + interval;
    for (uint64_t v = seen; absl::Now() < next;) {
      if (cancelled() || IsTerminal((*s)->phase())) break;
      v = (*s)->WaitForChange(
          v, std::min(next, absl::Now() + absl::Milliseconds(100)));
    }
  }
  watchers_.fetch_sub(1);
  return result;
}

void SessionManager::CancelAll() {
  // Source sessions roll back (or, in doubt, stop asking) in parallel.
  {
    absl::MutexLock lock(&engines_mu_);
    for (EngineThread& e : engines_) {
      if (!e.done->load()) e.engine->RequestShutdown();
    }
  }
  std::vector<std::shared_ptr<SessionRecord>> incoming;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [_, e] : sessions_) {
      const v1::Phase p = e.record->phase();
      if (e.record->role() == v1::ROLE_DESTINATION && !IsTerminal(p) &&
          p != v1::PHASE_UNSPECIFIED)
        incoming.push_back(e.record);
    }
  }
  for (const auto& s : incoming) (void)Cancel(s->name());
  {
    absl::MutexLock lock(&doubt_mu_);
    doubt_stop_ = true;
  }
  std::vector<EngineThread> engines;
  std::vector<std::thread> doubts;
  {
    absl::MutexLock lock(&engines_mu_);
    engines.swap(engines_);
    doubts.swap(doubts_);
  }
  for (auto& e : engines) e.thread.join();
  for (auto& t : doubts) t.join();
}

}  // namespace vmig::daemon
