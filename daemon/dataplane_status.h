// The data plane's ports, their counters and flows as the vmig.v1 API
// reports them (DataplaneService). DPDK telemetry reads the same counters.
#ifndef VMIGD_DAEMON_DATAPLANE_STATUS_H_
#define VMIGD_DAEMON_DATAPLANE_STATUS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/transport.h"
#include "vmig/v1/dataplane.pb.h"

namespace vmig::daemon {

// `session_name` maps a wire session id to its session's resource name ("" if
// unknown).
v1::DataplaneStatus DataplaneStatusOf(
    const std::vector<dataplane::Transport*>& transports,
    const std::function<std::string(uint32_t)>& session_name);
// Every worker counter into its PortStatus field of the same name (the
// injected faults into PortStatus.injected).
void SetCounters(const dataplane::CounterSnapshot& c, v1::PortStatus& p);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DATAPLANE_STATUS_H_
