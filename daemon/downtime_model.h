// The downtime model: how long one switchover takes, as a pure function of
// per-device and link inputs. The source engine predicts with it before it
// switches over, and `vmig-bench sweep`/`model` project with it; one model,
// so that a benchmark's figure and the engine's decision cannot drift apart.
//
//   parallel: A arcs (each a parallel barrier on one side)
//             + max(slowest device's bytes / its read rate,
//                   all bytes / link rate)
//   serial:   sum over devices of (A arcs + bytes / min(read rate, link))
// with A = 5 when every device has PRE_COPY (PRE_COPY_P2P; STOP_COPY; load,
// RUNNING_P2P, RUNNING) and 6 otherwise (the quiesce and STOP_COPY are then
// two arcs from RUNNING_P2P).
#ifndef VMIGD_DAEMON_DOWNTIME_MODEL_H_
#define VMIGD_DAEMON_DOWNTIME_MODEL_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace vmig::daemon {

struct DeviceTerms {
  // What STOP_COPY still has to move.
  uint64_t remaining_bytes = 0;
  // Measured read rate from the device's data_fd, bytes/s; 0: unknown (the
  // link rate stands in).
  double read_rate = 0;
  bool precopy = false;
};

struct LinkTerms {
  // Bytes/s over all streams together; 0: unknown (kAssumedLinkRate).
  double rate = 0;
  // One device arc.
  absl::Duration arc = absl::Milliseconds(1);
  bool serial = false;
};

// What a daemon with no measurement assumes of its link.
inline constexpr double kAssumedLinkRate = 1e9;

absl::Duration PredictDowntime(const std::vector<DeviceTerms>& devices,
                               const LinkTerms& link);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DOWNTIME_MODEL_H_
