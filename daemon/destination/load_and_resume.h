// The destination's commit on its devices: load (RESUMING -> STOP), the
// journal's mark, then resume in lockstep (every device RUNNING_P2P before
// any is RUNNING). Whether any device ran decides the outcome.
#ifndef VMIGD_DAEMON_DESTINATION_LOAD_AND_RESUME_H_
#define VMIGD_DAEMON_DESTINATION_LOAD_AND_RESUME_H_

#include "daemon/session_record.h"
#include "vfio/device_group.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// COMMITTED once a device ran (the group then keeps its state: nothing is
// reset behind the caller's back), with an error if a later arc failed;
// ABORTED if none ran, with the cause. `leave_stopped`: stop at
// RUNNING_P2P. The response carries the load and resume times.
v1::CommitResponse LoadAndResume(vfio::DeviceGroup& group,
                                 SessionRecord& record, bool serial,
                                 bool leave_stopped);

// After a resume that failed: whether any device ran (a device whose state
// cannot be read may have).
bool AnyDeviceRan(const vfio::DeviceGroup& group);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_LOAD_AND_RESUME_H_
