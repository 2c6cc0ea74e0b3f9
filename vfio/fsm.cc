#include "vfio/fsm.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmig::vfio {
namespace {

using S = DeviceState;
constexpr int N = kNumDeviceStates;

// kNext[from][to]: the next state on the way from `from` to `to` when every
// optional feature is supported. Rows and columns are in uAPI value order
// (ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY,
// PRE_COPY_P2P). It encodes the kernel's rules: shortest path, saving-group
// states never interior, STOP_COPY -> PRE_COPY* blocked (ERROR).
constexpr S kNext[N][N] = {
    /* ERROR */
    {S::kError, S::kError, S::kError, S::kError, S::kError, S::kError,
     S::kError, S::kError},
    /* STOP */
    {S::kError, S::kStop, S::kRunningP2P, S::kStopCopy, S::kResuming,
     S::kRunningP2P, S::kRunningP2P, S::kRunningP2P},
    /* RUNNING */
    {S::kError, S::kRunningP2P, S::kRunning, S::kRunningP2P, S::kRunningP2P,
     S::kRunningP2P, S::kPreCopy, S::kRunningP2P},
    /* STOP_COPY */
    {S::kError, S::kStop, S::kStop, S::kStopCopy, S::kStop, S::kStop, S::kError,
     S::kError},
    /* RESUMING */
    {S::kError, S::kStop, S::kStop, S::kStop, S::kResuming, S::kStop, S::kStop,
     S::kStop},
    /* RUNNING_P2P */
    {S::kError, S::kStop, S::kRunning, S::kStop, S::kStop, S::kRunningP2P,
     S::kRunning, S::kPreCopyP2P},
    /* PRE_COPY */
    {S::kError, S::kRunning, S::kRunning, S::kPreCopyP2P, S::kRunning,
     S::kRunning, S::kPreCopy, S::kPreCopyP2P},
    /* PRE_COPY_P2P */
    {S::kError, S::kRunningP2P, S::kRunningP2P, S::kStopCopy, S::kRunningP2P,
     S::kRunningP2P, S::kPreCopy, S::kPreCopyP2P},
};

// The flags a state needs. ERROR needs every bit, so it is never "supported":
// it can be neither the current state of a request nor its target.
constexpr uint64_t kStateNeeds[N] = {
    /* ERROR */ ~uint64_t{0},
    /* STOP */ kMigStopCopy,
    /* RUNNING */ kMigStopCopy,
    /* STOP_COPY */ kMigStopCopy,
    /* RESUMING */ kMigStopCopy,
    /* RUNNING_P2P */ kMigStopCopy | kMigP2P,
    /* PRE_COPY */ kMigStopCopy | kMigPreCopy,
    /* PRE_COPY_P2P */ kMigStopCopy | kMigP2P | kMigPreCopy,
};

bool Supported(MigrationFlags flags, S s) {
  auto v = static_cast<uint32_t>(s);
  return v < N && flags.has_all(kStateNeeds[v]);
}

S Lookup(S from, S to) {
  return kNext[static_cast<uint32_t>(from)][static_cast<uint32_t>(to)];
}

}  // namespace

bool StateSupported(MigrationFlags flags, DeviceState s) {
  return Supported(flags, s);
}

absl::StatusOr<DeviceState> NextState(MigrationFlags flags, DeviceState current,
                                      DeviceState target) {
  if (!Supported(flags, current)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "current state ", DeviceStateName(current),
        " is not supported by a device with flags ", flags.ToString()));
  }
  if (!Supported(flags, target)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target state ", DeviceStateName(target),
        " is not supported by a device with flags ", flags.ToString()));
  }
  // A step into a state the device lacks is skipped by re-reading the table
  // from that state toward the target; the driver only sees the arc from
  // `current` to the first supported state.
  S next = Lookup(current, target);
  while (!Supported(flags, next)) {
    if (next == S::kError) break;
    next = Lookup(next, target);
  }
  if (next == S::kError) {
    return absl::InvalidArgumentError(
        absl::StrCat("transition ", DeviceStateName(current), " -> ",
                     DeviceStateName(target), " is not permitted"));
  }
  return next;
}

absl::StatusOr<std::vector<DeviceState>> PlanPath(MigrationFlags flags,
                                                  DeviceState from,
                                                  DeviceState to) {
  if (from == to) {
    // The identity request is still checked: an unsupported state is refused.
    if (!Supported(flags, from)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "state ", DeviceStateName(from),
          " is not supported by a device with flags ", flags.ToString()));
    }
    return std::vector<DeviceState>{from};
  }
  std::vector<DeviceState> path = {from};
  for (DeviceState cur = from; cur != to;) {
    absl::StatusOr<DeviceState> next = NextState(flags, cur, to);
    if (!next.ok()) return next.status();
    cur = *next;
    path.push_back(cur);
    // Every path in the table is at most five arcs; more means a broken table.
    if (path.size() > N) return absl::InternalError("FSM table loops");
  }
  return path;
}

std::string FormatPath(const std::vector<DeviceState>& path) {
  return absl::StrJoin(path, " -> ", [](std::string* out, DeviceState s) {
    absl::StrAppend(out, DeviceStateName(s));
  });
}

bool ArcOpensDataSession(DeviceState from, DeviceState to) {
  return (from == S::kRunning && to == S::kPreCopy) ||
         (from == S::kRunningP2P && to == S::kPreCopyP2P) ||
         (from == S::kStop && to == S::kStopCopy) ||
         (from == S::kStop && to == S::kResuming);
}

}  // namespace vmig::vfio
