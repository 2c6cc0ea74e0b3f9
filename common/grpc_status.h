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

// Messages are cut at 2 KiB: a message travels as metadata, and one past
// gRPC's metadata limit would replace the status with RESOURCE_EXHAUSTED.
inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  constexpr size_t kMaxMessage = 2048;
  absl::string_view m = s.message();
  return grpc::Status(
      static_cast<grpc::StatusCode>(s.code()),
      m.size() <= kMaxMessage
          ? std::string(m)
          : absl::StrCat(m.substr(0, kMaxMessage), "... (cut from ", m.size(),
                         " bytes)"));
}

// The same code, the message prefixed with what was being done.
inline absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace vmig

#endif  // VMIGD_COMMON_GRPC_STATUS_H_
