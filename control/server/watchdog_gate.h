// What a systemd watchdog ping vouches for. The main loop pings only while
// Check() finds every part alive: the gRPC server answers a health check
// on the daemon's own socket within its deadline, and every data-plane
// worker's loop has passed within the stall bound (its busy passes and idle
// sleeps add up every millisecond or so, idle or not: when their sum stands
// still, the worker is hung).
// Missing pings make systemd restart the daemon (Restart=on-failure), and
// the journal recovers its sessions.
#ifndef VMIGD_CONTROL_SERVER_WATCHDOG_GATE_H_
#define VMIGD_CONTROL_SERVER_WATCHDOG_GATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dataplane/transport.h"
#include "grpcpp/channel.h"

namespace vmig::server {

class WatchdogGate {
 public:
  // `unix_socket`: the daemon's own; `stall`: how long a worker may go
  // without a loop pass; `rpc_deadline`: the health check's.
  WatchdogGate(const std::string& unix_socket,
               std::vector<dataplane::Transport*> transports,
               absl::Duration stall, absl::Duration rpc_deadline);

  // "" if every part is alive, else what is not (for the log and STATUS=).
  std::string Check(absl::Time now);

  // The stall bound for a watchdog interval: a third of it, at least 2 s
  // (a worker descheduled on a busy host is not hung).
  static absl::Duration StallFor(absl::Duration watchdog);

 private:
  struct Progress {
    uint64_t loops = 0;
    absl::Time since = absl::InfinitePast();
  };
  std::string CheckServer();
  std::string CheckWorkers(absl::Time now);

  std::shared_ptr<grpc::Channel> channel_;
  const std::vector<dataplane::Transport*> transports_;
  const absl::Duration stall_, rpc_deadline_;
  std::vector<std::vector<Progress>> progress_;  // per port, per worker
};

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_WATCHDOG_GATE_H_
