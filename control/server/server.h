// Builds the daemon's gRPC server: the Unix socket (and optionally TCP with
// TLS or mutual TLS), vmig.v1 services, grpc.health.v1 and reflection.
#ifndef VMIGD_CONTROL_SERVER_SERVER_H_
#define VMIGD_CONTROL_SERVER_SERVER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "vmig/v1/config.pb.h"

namespace vmig::server {

// grpc.health.v1's service name for the data plane: SERVING while every
// data-plane port's link is up.
inline constexpr char kDataplaneHealthService[] = "vmig.dataplane";

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    const v1::DaemonConfig& config,
    const std::vector<grpc::Service*>& services);

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_SERVER_H_
