// The VFIO migration FSM path planner, identical to the kernel's
// vfio_mig_get_next_state(): drivers implement single arcs and the core turns
// any requested transition into a chain of them.
#ifndef VMIGD_VFIO_FSM_H_
#define VMIGD_VFIO_FSM_H_

#include <vector>

#include "absl/status/statusor.h"
#include "vfio/state.h"

namespace vmig::vfio {

// The next arc from `current` toward `target` for a device with `flags`.
// Errors (all InvalidArgument, like the kernel's EINVAL): a current or target
// state the device does not support (ERROR is never supported as either), and
// transitions the table blocks (STOP_COPY -> PRE_COPY / PRE_COPY_P2P).
absl::StatusOr<DeviceState> NextState(MigrationFlags flags, DeviceState current,
                                      DeviceState target);

// Whether a device with `flags` has state `s` (ERROR: never, as a state to
// be in or to ask for).
bool StateSupported(MigrationFlags flags, DeviceState s);

// The whole path, `from` first and `to` last; {from} when from == to.
absl::StatusOr<std::vector<DeviceState>> PlanPath(MigrationFlags flags,
                                                  DeviceState from,
                                                  DeviceState to);

// "RUNNING -> RUNNING_P2P -> STOP".
std::string FormatPath(const std::vector<DeviceState>& path);

// True if the single arc from -> to opens a new data session (returns a
// data_fd): RUNNING->PRE_COPY, RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY,
// STOP->RESUMING.
bool ArcOpensDataSession(DeviceState from, DeviceState to);

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_FSM_H_
