// absl::Status -> grpc::Status. The code numbers are the same by design.
#ifndef VMIGD_CONTROL_GRPC_STATUS_H_
#define VMIGD_CONTROL_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmig::control {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace vmig::control

#endif  // VMIGD_CONTROL_GRPC_STATUS_H_
