// absl::Status <-> grpc::Status. The code numbers are the same by design.
// Header-only: its users link gRPC themselves.
#ifndef VMIGD_COMMON_GRPC_STATUS_H_
#define VMIGD_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace vmig {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

// The same code, the message prefixed with what was being done.
inline absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace vmig

#endif  // VMIGD_COMMON_GRPC_STATUS_H_
