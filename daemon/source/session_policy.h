// The policy a source session runs under, as its record holds it now
// (UpdateSession may change it mid pre-copy).
#ifndef VMIGD_DAEMON_SOURCE_SESSION_POLICY_H_
#define VMIGD_DAEMON_SOURCE_SESSION_POLICY_H_

#include <cstdint>

#include "absl/time/time.h"
#include "daemon/session_record.h"

namespace vmig::daemon {

struct SessionPolicy {
  absl::Duration budget, max_precopy;
  bool manual = false, fail_on_timeout = true, allow_overrun = false;
  // Bytes/s (0: no cap of the session's own).
  uint64_t max_bandwidth = 0, switchover_bandwidth = 0;
};

// Reads it from the record: max_precopy defaults to 60 s, and a timeout
// fails the session unless it says otherwise or allows overrun.
SessionPolicy ReadPolicy(const SessionRecord& session);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SESSION_POLICY_H_
