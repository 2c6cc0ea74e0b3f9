// What a switchover that committed reports: its phases' times against
// their prediction, per device, and which phase overran the most. Pure
// functions of what the engine measured.
#ifndef VMIGD_DAEMON_SOURCE_SWITCHOVER_REPORT_H_
#define VMIGD_DAEMON_SOURCE_SWITCHOVER_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/model/downtime_model.h"
#include "daemon/source/session_policy.h"
#include "daemon/source/source_device.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// Timestamps of the switchover (CLOCK_MONOTONIC ns). `end` is when the
// commit's acknowledgment arrived (this clock alone); `dest_running` the
// destination's CLOCK_MONOTONIC at its last RUNNING.
struct SwitchoverTimes {
  int64_t start = 0, quiesced = 0, transferred = 0, end = 0;
  int64_t dest_running = 0;
};

// What the report needs beyond the times and the devices.
struct ReportContext {
  Prediction predicted;
  SessionPolicy policy;
  bool over_budget = false;  // it switched over past the budget, as allowed
  bool same_host = false;    // both daemons on one boot: one monotonic clock
  std::string protection;    // the data plane's, by name
};

v1::DowntimeReport MakeDowntimeReport(const v1::CommitResponse& resp,
                                      const SwitchoverTimes& t,
                                      const std::vector<SourceDevice>& devs,
                                      const ReportContext& ctx);

// Which phase (in stop-copy, which device) overran its prediction the
// most: "stop-copy of nic0: 12.0 ms, predicted 8.0 ms".
std::string WorstOverrun(const SwitchoverTimes& t,
                         const std::vector<SourceDevice>& devs,
                         const Prediction& p);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SWITCHOVER_REPORT_H_
