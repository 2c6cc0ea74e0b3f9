#include "daemon/destination/load_and_resume.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

using vfio::DeviceGroup;
using vfio::DeviceState;

bool AnyDeviceRan(const DeviceGroup& group) {
  for (size_t i = 0; i < group.size(); ++i) {
    absl::StatusOr<DeviceState> st = group[i].device->GetState();
    if (!st.ok() || *st == DeviceState::kRunning ||
        *st == DeviceState::kRunningP2P || *st == DeviceState::kPreCopy ||
        *st == DeviceState::kPreCopyP2P) {
      return true;
    }
  }
  return false;
}

v1::CommitResponse LoadAndResume(DeviceGroup& group, SessionRecord& record,
                                 bool serial, bool leave_stopped) {
  const auto schedule = serial ? DeviceGroup::Schedule::kSerial
                               : DeviceGroup::Schedule::kParallel;
  v1::CommitResponse resp;
  const absl::Time t0 = absl::Now();
  if (absl::Status s = group.MoveAll(DeviceState::kStop, schedule, nullptr);
      !s.ok()) {
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(absl::StrCat("load failed: ", s.message(),
                                "; no destination device ran"));
    return resp;
  }
  const absl::Time loaded = absl::Now();
  // On disk before any device runs: a daemon restarted from here on knows
  // the state is the destination's.
  if (absl::Status j = record.MarkCommit(v1::JournalSession::COMMIT_BEGUN);
      !j.ok()) {
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(
        absl::StrCat("journal: ", j.message(), "; no destination device ran"));
    return resp;
  }
  absl::Status resumed =
      group.MoveAll(DeviceState::kRunningP2P, schedule, nullptr);
  if (!resumed.ok() && !AnyDeviceRan(group)) {
    // Nothing ran: the source still holds the only running copy. On disk
    // before the answer: a restart that found COMMIT_BEGUN last would finish
    // the commit while the source resumes its copy.
    if (absl::Status j = record.MarkCommit(v1::JournalSession::COMMIT_ABORTED);
        !j.ok()) {
      spdlog::critical(
          "{}: journal: {}: the abandoned commit is not on disk; if this host "
          "loses power before it is, a restart finishes the commit",
          record.name(), j.message());
    }
    resp.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    resp.set_error(absl::StrCat("resume failed: ", resumed.message(),
                                "; no destination device ran"));
    return resp;
  }
  // A device ran: the state is the destination's now, whatever follows.
  group.SetRecovery(vfio::Recovery::kKeep);
  if (resumed.ok() && !leave_stopped)
    resumed = group.MoveAll(DeviceState::kRunning, schedule, nullptr);
  if (!resumed.ok()) {
    resp.set_error(
        absl::StrCat("resume failed after devices ran: ", resumed.message(),
                     "; the destination owns the state"));
    spdlog::error("{}: {}", record.name(), resp.error());
  }
  resp.set_outcome(v1::COMMIT_OUTCOME_COMMITTED);
  resp.set_last_running_mono_ns(MonotonicNanos());
  resp.set_load_ns(absl::ToInt64Nanoseconds(loaded - t0));
  resp.set_resume_ns(absl::ToInt64Nanoseconds(absl::Now() - loaded));
  return resp;
}

}  // namespace vmig::daemon
