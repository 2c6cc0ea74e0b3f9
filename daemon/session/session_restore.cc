// The manager's side of the journal: every session's record journals its
// phase changes and commit marks, and a restarted daemon restores what the
// journal recovered, driving the devices of interrupted sessions to a safe
// state.
#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fmt_absl.h"
#include "daemon/session/session_manager.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"
#include "vfio/device_group.h"

namespace vmig::daemon {

void SessionManager::Journalled(SessionRecord& record) {
  if (!journal_) return;
  Journal* journal = journal_;
  record.set_journal([journal](const v1::Session& s,
                               v1::JournalSession::Commit commit,
                               bool durable) {
    v1::JournalSession js;
    js.set_id(std::string(absl::StripPrefix(s.name(), "sessions/")));
    js.set_role(s.role());
    js.set_phase(s.phase());
    js.set_error(s.error());
    js.set_peer(s.peer());
    js.set_commit(commit);
    for (const auto& d : s.devices())
      js.add_devices(std::string(absl::StripPrefix(d.device(), "devices/")));
    return journal->SessionChanged(js, durable);
  });
}

std::pair<v1::Phase, std::string> SessionManager::Recover(
    const v1::JournalSession& js) {
  const std::string during =
      absl::StrCat("daemon restarted during ", v1::Phase_Name(js.phase()));
  const bool source = js.role() == v1::ROLE_SOURCE;
  if (js.commit() == v1::JournalSession::COMMIT_DONE) {
    // The destination holds the state: nothing to undo on either side.
    return {v1::PHASE_COMPLETED, ""};
  }
  if (!source && js.commit() == v1::JournalSession::COMMIT_BEGUN) {
    // Killed in the commit, after every device had loaded its state: the
    // outcome is COMMITTED (the source may have been told so), so the
    // commit finishes here. Its devices were anywhere from STOP to
    // RUNNING: all to RUNNING_P2P, then all to RUNNING, as the commit's
    // barrier would have; left where they were, they would run on no host.
    return FinishCommit(js, during);
  }
  if (source && js.commit() == v1::JournalSession::COMMIT_BEGUN) {
    // In doubt, as before the restart: ResolveRestored asks the
    // destination, and an operator may Resolve it.
    return {v1::PHASE_IN_DOUBT,
            absl::StrCat(during,
                         " with the commit's outcome unknown: the devices stay "
                         "stopped while the destination ",
                         js.peer().empty() ? "(address unknown)" : js.peer(),
                         " is asked (or an operator resolves it)")};
  }
  // Not committed: source devices back to RUNNING with their state,
  // destination devices reset.
  vfio::DeviceGroup group;
  for (const std::string& id : js.devices()) {
    absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> d =
        devices_.Find(id);
    if (!d.ok()) {
      spdlog::warn("sessions/{}: device {} is gone: {}", js.id(), id,
                   d.status().message());
      continue;
    }
    (void)group.Add(id, *d,
                    source ? vfio::Recovery::kResume : vfio::Recovery::kReset);
  }
  std::string error = during;
  if (absl::Status s = group.Recover(); !s.ok())
    absl::StrAppend(&error, "; recovering its devices: ", s.message());
  else if (group.size() > 0)
    absl::StrAppend(&error, source ? "; its devices run again here"
                                   : "; its devices were reset");
  return {v1::PHASE_FAILED, error};
}

std::pair<v1::Phase, std::string> SessionManager::FinishCommit(
    const v1::JournalSession& js, const std::string& during) {
  vfio::DeviceGroup group;
  std::string missing;
  for (const std::string& id : js.devices()) {
    absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> d =
        devices_.Find(id);
    if (!d.ok()) {
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", id);
      continue;
    }
    (void)group.Add(id, *d, vfio::Recovery::kKeep);
  }
  absl::Status s =
      group.MoveAll(vfio::DeviceState::kRunningP2P,
                    vfio::DeviceGroup::Schedule::kParallel, nullptr);
  if (s.ok()) {
    s = group.MoveAll(vfio::DeviceState::kRunning,
                      vfio::DeviceGroup::Schedule::kParallel, nullptr);
  }
  if (s.ok() && missing.empty()) return {v1::PHASE_COMPLETED, ""};
  std::string why = missing.empty() ? "" : "device(s) " + missing + " gone";
  if (!s.ok()) absl::StrAppend(&why, why.empty() ? "" : "; ", s.message());
  return {
      v1::PHASE_FAILED,
      absl::StrCat(during, " after the commit's load; finishing it: ", why)};
}

void SessionManager::Restore(const Journal::State& journal) {
  // In the journal's order (oldest change first), so that the records'
  // update times follow it: the bound on finished sessions below then
  // drops the ones that ended longest ago, never a session that was in
  // its commit when the daemon died (by id order, a restarted destination
  // dropped such a session and could not answer its source in doubt).
  std::vector<const std::pair<const std::string, v1::JournalSession>*> order;
  for (const auto& entry : journal.sessions) order.push_back(&entry);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->second.sequence() < b->second.sequence();
  });
  for (const auto* ordered : order) {
    const auto& entry = *ordered;
    // Named, not structured bindings: the lambda below captures it (C++20
    // lets GCC capture a binding; clang 14 does not).
    const std::string& id = entry.first;
    const auto& js = entry.second;
    auto record = std::make_shared<SessionRecord>(id, js.role());
    v1::Phase phase = js.phase();
    std::string error = js.error();
    if (!IsTerminal(phase)) {
      std::tie(phase, error) = Recover(js);
      spdlog::warn("sessions/{}: {}", id,
                   error.empty() ? "committed before the restart" : error);
    }
    // Its commit mark goes on with it (set before the journal is: nothing
    // is written yet), so that a session still in doubt stays so across
    // another restart.
    (void)record->MarkCommit(js.commit());
    Journalled(*record);
    record->Update([&](v1::Session& s) {
      s.set_phase(phase);
      s.set_error(error);
      s.set_peer(js.peer());
      // (A destination journals only COMMIT_BEGUN: one that failed to
      // resume after devices ran comes back FAILED without the mark.)
      s.set_committed(phase == v1::PHASE_COMPLETED ||
                      js.commit() == v1::JournalSession::COMMIT_DONE ||
                      (js.role() == v1::ROLE_DESTINATION &&
                       js.commit() == v1::JournalSession::COMMIT_BEGUN));
      for (const std::string& d : js.devices())
        s.add_devices()->set_device(absl::StrCat("devices/", d));
    });
    if (phase == v1::PHASE_IN_DOUBT) {
      // Its devices stay this session's until the outcome is known: no
      // other session may move them, and a cancel is refused.
      std::vector<std::string> ids(js.devices().begin(), js.devices().end());
      if (absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>>
              claimed = devices_.Claim(ids, record->name());
          !claimed.ok()) {
        spdlog::warn("sessions/{}: its devices: {}", id,
                     claimed.status().message());
      }
      record->committing.store(true);
      absl::MutexLock lock(&engines_mu_);
      doubts_.emplace_back([this, record, js] { ResolveRestored(record, js); });
    }
    absl::MutexLock lock(&mu_);
    sessions_[id] = Entry{record, nullptr, ""};
  }
  // The journal keeps more finished sessions than the daemon serves.
  absl::MutexLock lock(&mu_);
  EvictFinishedLocked(limits_.max_sessions());
}

void SessionManager::ResolveRestored(std::shared_ptr<SessionRecord> record,
                                     v1::JournalSession js) {
  const std::string name = record->name();
  absl::StatusOr<std::unique_ptr<PeerClient>> peer =
      js.peer().empty() ? absl::StatusOr<std::unique_ptr<PeerClient>>(
                              absl::NotFoundError("no peer address journaled"))
                        : peer_clients_(js.peer());
  v1::AbortRequest ar;
  ar.set_session_id(js.id());
  ar.set_reason("the source restarted during the commit and lost its answer");
  // How it ends: the destination's answer or an operator's decision.
  v1::CommitOutcome outcome = v1::COMMIT_OUTCOME_NONE;
  std::string how;
  absl::Duration backoff = absl::Milliseconds(50);
  for (;;) {
    const int decision = record->resolution.load();
    if (decision == v1::ResolveRequest::DECISION_RESUME_SOURCE) {
      outcome = v1::COMMIT_OUTCOME_ABORTED;
      how = "an operator resolved it: RESUME_SOURCE";
      break;
    }
    if (decision == v1::ResolveRequest::DECISION_DESTINATION_OWNS) {
      outcome = v1::COMMIT_OUTCOME_COMMITTED;
      how = "an operator resolved it: DESTINATION_OWNS";
      break;
    }
    std::string asked;
    if (peer.ok()) {
      absl::StatusOr<v1::AbortResponse> a = (*peer)->Abort(ar);
      if (a.ok() && (a->outcome() == v1::COMMIT_OUTCOME_COMMITTED ||
                     a->outcome() == v1::COMMIT_OUTCOME_ABORTED)) {
        outcome = a->outcome();
        how = absl::StrCat("the destination says ",
                           v1::CommitOutcome_Name(a->outcome()));
        break;
      }
      asked = a.ok() ? absl::StrCat("the destination says ",
                                    v1::CommitOutcome_Name(a->outcome()))
                     : std::string(a.status().message());
    } else {
      asked = std::string(peer.status().message());
    }
    record->Update([&](v1::Session& p) {
      const std::string base = p.error().substr(0, p.error().find(" (last"));
      p.set_error(absl::StrCat(base, " (last answer: ", asked, ")"));
    });
    absl::MutexLock lock(&doubt_mu_);
    if (doubt_stop_) return;  // the daemon stops: still in doubt, stopped
    doubt_mu_.AwaitWithTimeout(
        absl::Condition(
            +[](bool* stop) { return *stop; }, &doubt_stop_),
        backoff);
    if (doubt_stop_) return;
    backoff = std::min(2 * backoff, absl::Seconds(1));
  }
  std::vector<std::string> ids(js.devices().begin(), js.devices().end());
  if (outcome == v1::COMMIT_OUTCOME_ABORTED) {
    // No destination device ran and none will: resume ours, their state
    // intact.
    vfio::DeviceGroup group;
    for (const std::string& id : ids) {
      if (absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> d =
              devices_.Find(id);
          d.ok()) {
        (void)group.Add(id, *d, vfio::Recovery::kResume);
      }
    }
    std::string error = absl::StrCat("after a restart during the commit, ", how,
                                     ": no destination device ran");
    if (absl::Status s = group.Recover(); !s.ok()) {
      absl::StrAppend(&error, "; resuming the devices: ", s.message());
    } else {
      absl::StrAppend(&error, "; the devices run here again");
    }
    devices_.Release(ids, name);
    spdlog::warn("{}: {}", name, error);
    record->Update([&](v1::Session& p) {
      p.set_phase(v1::PHASE_FAILED);
      p.set_error(error);
    });
  } else {
    // The destination runs them: ours stay stopped, released.
    devices_.Release(ids, name);
    const bool operator_said = record->resolution.load() ==
                               v1::ResolveRequest::DECISION_DESTINATION_OWNS;
    spdlog::warn(
        "{}: after a restart during the commit, {}: the source's "
        "devices stay stopped",
        name, how);
    record->Update([&](v1::Session& p) {
      p.set_committed(true);
      if (operator_said) {
        p.set_phase(v1::PHASE_FAILED);
        p.set_error(absl::StrCat("after a restart during the commit, ", how,
                                 ": the source's devices stay stopped"));
      } else {
        // It completed; its downtime report went with the restart.
        p.set_phase(v1::PHASE_COMPLETED);
        p.set_error("");
      }
    });
    if (!operator_said) {
      (void)record->MarkCommit(v1::JournalSession::COMMIT_DONE);
    }
  }
  record->committing.store(false);
}

}  // namespace vmig::daemon
