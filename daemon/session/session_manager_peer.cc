// The manager's side of the peer protocol: the PeerService calls,
// dispatched to destination sessions by id, and the liveness check of the
// destination sessions whose source must keep calling.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/session/memory_trim.h"
#include "daemon/session/session_manager.h"  // (the class these methods belong to)
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::StatusOr<std::shared_ptr<DestinationSession>>
SessionManager::FindDestination(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() ||
      it->second.record->role() != v1::ROLE_DESTINATION ||
      !it->second.destination) {
    return absl::NotFoundError(
        absl::StrCat("no incoming session sessions/", id));
  }
  return it->second.destination;
}

absl::StatusOr<v1::HandshakeResponse> SessionManager::PeerHandshake(
    const v1::HandshakeRequest& req, const std::string& source) {
  if (req.version() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("peer protocol version ", req.version(), " is not 1"));
  }
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) return d.status();
  if (!source.empty()) (*d)->set_source(absl::StrCat("the source ", source));
  absl::flat_hash_set<std::string> live;
  if (limits_.max_incoming_sessions() > 0) {
    // Only a limited line needs to know which sessions still stream.
    absl::MutexLock lock(&mu_);
    for (const auto& [id, e] : sessions_) {
      if (e.record->role() == v1::ROLE_DESTINATION &&
          !IsTerminal(e.record->phase()))
        live.insert(id);
    }
  }
  if (const size_t place = incoming_.Ask(req.session_id(), absl::Now(), live);
      place > 0) {
    (*d)->MarkQueued(place);
    v1::HandshakeResponse wait;
    wait.set_queue_position(static_cast<uint32_t>(place));
    return wait;
  }
  absl::StatusOr<v1::HandshakeResponse> resp = (*d)->Handshake(req);
  if (resp.ok()) {
    WakeHealth();  // a session to watch for liveness
  } else if (const v1::Phase p = (*d)->record().phase();
             p == v1::PHASE_PREPARED || p == v1::PHASE_QUEUED) {
    // Not taken (a bad request): its slot goes to the next. A handshake
    // refused because the session already streams keeps it.
    incoming_.Release(req.session_id());
  }
  return resp;
}

absl::StatusOr<v1::SwitchoverAckResponse> SessionManager::PeerSwitchoverAck(
    const v1::SwitchoverAckRequest& req) {
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) return d.status();
  return (*d)->SwitchoverAck(req);
}

absl::StatusOr<v1::CommitResponse> SessionManager::PeerCommit(
    const v1::CommitRequest& req, absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) return d.status();
  return (*d)->Commit(req, deadline);
}

// A destination session this daemon knows only from its journal (it was
// restarted): the outcome its record shows, or NOT_FOUND.
absl::StatusOr<v1::HeartbeatResponse> SessionManager::RestoredAnswer(
    const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.destination ||
      it->second.record->role() != v1::ROLE_DESTINATION ||
      !IsTerminal(it->second.record->phase())) {
    return absl::NotFoundError(
        absl::StrCat("no incoming session sessions/", id));
  }
  const v1::Session s = it->second.record->Snapshot();
  v1::HeartbeatResponse r;
  r.set_phase(s.phase());
  r.set_error(s.error());
  // A commit that loaded every device stands even if a device then failed
  // to resume (committed): the source must not resume its copy.
  r.set_outcome(s.phase() == v1::PHASE_COMPLETED || s.committed()
                    ? v1::COMMIT_OUTCOME_COMMITTED
                    : v1::COMMIT_OUTCOME_ABORTED);
  return r;
}

absl::StatusOr<v1::AbortResponse> SessionManager::PeerAbort(
    const v1::AbortRequest& req) {
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) {
    absl::StatusOr<v1::HeartbeatResponse> r = RestoredAnswer(req.session_id());
    if (!r.ok()) return d.status();
    v1::AbortResponse resp;
    resp.set_outcome(r->outcome());
    resp.mutable_commit()->set_outcome(r->outcome());
    resp.mutable_commit()->set_error(r->error());
    return resp;
  }
  return (*d)->Abort(req);
}

absl::StatusOr<v1::HeartbeatResponse> SessionManager::PeerHeartbeat(
    const v1::HeartbeatRequest& req) {
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) {
    absl::StatusOr<v1::HeartbeatResponse> r = RestoredAnswer(req.session_id());
    return r.ok() ? r : d.status();
  }
  return (*d)->Heartbeat();
}

absl::Status SessionManager::PeerReport(const v1::ReportRequest& req) {
  absl::StatusOr<std::shared_ptr<DestinationSession>> d =
      FindDestination(req.session_id());
  if (!d.ok()) return d.status();
  return (*d)->Report(req);
}

void SessionManager::WakeHealth() {
  absl::MutexLock lock(&health_mu_);
  health_wake_ = true;
  health_cv_.Signal();
}

void SessionManager::WatchDestinations() {
  // Often enough that a silent source is noticed well within the bound.
  const absl::Duration tick = std::min(
      absl::Milliseconds(250), std::max(liveness_ / 8, absl::Milliseconds(10)));
  absl::Time next = absl::InfiniteFuture();
  std::vector<const DestinationSession*> watched;  // as of the last tick
  for (;;) {
    {
      absl::MutexLock lock(&health_mu_);
      // Idle (nothing to watch): sleep until a prepare or handshake wakes
      // us, or the next expiry is due.
      while (!health_stop_ && !health_wake_ &&
             !health_cv_.WaitWithDeadline(&health_mu_, next)) {
      }
      if (health_stop_) return;
      health_wake_ = false;
    }
    std::vector<std::shared_ptr<DestinationSession>> sessions;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [_, e] : sessions_) {
        if (e.destination && !IsTerminal(e.record->phase()))
          sessions.push_back(e.destination);
      }
    }
    // A session watched last time has ended: give back what its threads
    // freed (here, on this thread, off every call's path).
    bool one_ended = false;
    for (const DestinationSession* w : watched) {
      one_ended = one_ended ||
                  std::none_of(sessions.begin(), sessions.end(),
                               [w](const auto& s) { return s.get() == w; });
    }
    if (one_ended) ReturnFreedMemory();
    watched.clear();
    for (const auto& s : sessions) watched.push_back(s.get());
    next = absl::InfiniteFuture();
    const absl::Time now = absl::Now();
    for (const auto& d : sessions) {
      const absl::Time due = d->CheckHealth(now, liveness_);
      // A handshaken session answers `now`: look again in a tick.
      next = std::min(next, due <= now ? now + tick : due);
    }
  }
}

}  // namespace vmig::daemon
