// The destination session's progress: what its devices have taken and how
// fast (for its own record and for the source's prediction), and the
// states its devices are really in.
#ifndef VMIGD_DAEMON_DESTINATION_DESTINATION_PROGRESS_H_
#define VMIGD_DAEMON_DESTINATION_DESTINATION_PROGRESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/session_record.h"
#include "dataplane/stream.h"
#include "vfio/device_group.h"

namespace vmig::daemon {

using ReceiveStreams = std::vector<std::shared_ptr<dataplane::Stream>>;

// Per stream, its device's write rate while it pushed back (0: it never
// did for a millisecond).
std::vector<double> WriteRates(const ReceiveStreams& streams);

// Each device's bytes written and write rate, and the total, `elapsed`
// since the session was prepared.
void PublishStreamProgress(SessionRecord& record, const ReceiveStreams& streams,
                           absl::Duration elapsed);

// `phase`, `error` (if any) and the states the devices of `group` (named
// `ids`) are really in, read back, in one update; the progress they
// showed stays.
void PublishDeviceStates(SessionRecord& record,
                         const std::vector<std::string>& ids,
                         const vfio::DeviceGroup& group, v1::Phase phase,
                         const std::string& error = "");

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_DESTINATION_PROGRESS_H_
