// Brings the data plane up from the daemon's configuration: EAL with every
// port's worker lcores, and a transport (port + workers) per configured
// port, in configuration order.
#ifndef VMIGD_CONTROL_SERVER_DATAPLANE_SETUP_H_
#define VMIGD_CONTROL_SERVER_DATAPLANE_SETUP_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/transport.h"
#include "vmig/v1/config.pb.h"

namespace vmig::server {

using Transports = std::vector<std::unique_ptr<dataplane::Transport>>;

// Empty (and OK) when no port is configured: the daemon then runs without
// a data plane and refuses migrations.
absl::StatusOr<Transports> StartDataplane(const v1::DaemonConfig& config);

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_DATAPLANE_SETUP_H_
