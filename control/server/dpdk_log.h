// DPDK's log through the daemon's logger.
#ifndef VMIGD_CONTROL_SERVER_DPDK_LOG_H_
#define VMIGD_CONTROL_SERVER_DPDK_LOG_H_

namespace vmig::server {

// DPDK's EAL writes each log line to stdout and to syslog, which journald
// shows twice, without the daemon's priorities. Called before the EAL
// starts, this makes spdlog DPDK's only log stream: each line once, as
// "dpdk: ...", at the priority of DPDK's level.
void RouteDpdkLogThroughSpdlog();

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_DPDK_LOG_H_
