// The manager's side of the journal: every session's record journals its
// phase changes and commit marks, and a restarted daemon restores what the
// journal recovered, driving the devices of interrupted sessions to a safe
// state.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fmt_absl.h"
#include "daemon/session_manager.h"
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
  if (js.commit() == v1::JournalSession::COMMIT_DONE ||
      (!source && js.commit() == v1::JournalSession::COMMIT_BEGUN)) {
    // The destination holds the state: nothing to undo on either side.
    return {v1::PHASE_COMPLETED, ""};
  }
  if (source && js.commit() == v1::JournalSession::COMMIT_BEGUN) {
    return {v1::PHASE_FAILED,
            absl::StrCat(during,
                         " with the commit's outcome unknown: the devices are "
                         "left stopped; ask the destination (its session ",
                         js.id(), ") before resuming them")};
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

void SessionManager::Restore(const Journal::State& journal) {
  for (const auto& entry : journal.sessions) {
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
    Journalled(*record);
    record->Update([&](v1::Session& s) {
      s.set_phase(phase);
      s.set_error(error);
      s.set_peer(js.peer());
      // (A destination journals only COMMIT_BEGUN: one that failed to
      // resume after devices ran comes back FAILED without the mark.)
      s.set_committed(phase == v1::PHASE_COMPLETED ||
                      js.commit() == v1::JournalSession::COMMIT_DONE);
      for (const std::string& d : js.devices())
        s.add_devices()->set_device(absl::StrCat("devices/", d));
    });
    absl::MutexLock lock(&mu_);
    sessions_[id] = Entry{record, nullptr, ""};
  }
  // The journal keeps more finished sessions than the daemon serves.
  absl::MutexLock lock(&mu_);
  EvictFinishedLocked(limits_.max_sessions());
}

}  // namespace vmig::daemon
