// Conversions between the device layer's types and the vmig.v1 API's, and
// the API's resource-name rules. The daemon and vmigctl both use them.
#ifndef VMIGD_PROTO_CONVERT_H_
#define VMIGD_PROTO_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "vfio/state.h"
#include "vmig/v1/device.pb.h"

namespace vmig {

v1::DeviceState ToProto(vfio::DeviceState s);
v1::MigrationFlags ToProto(vfio::MigrationFlags f);
void ToProto(absl::Duration d, google::protobuf::Duration* out);
void ToProto(absl::Time t, google::protobuf::Timestamp* out);
absl::Duration FromProto(const google::protobuf::Duration& d);
absl::Time FromProto(const google::protobuf::Timestamp& t);
// For reports and tables.
inline double ToMillis(const google::protobuf::Duration& d) {
  return absl::ToDoubleMilliseconds(FromProto(d));
}

// "1-64 characters of [A-Za-z0-9._-]": device and session ids.
bool IsValidId(absl::string_view id);

// "devices/nic0" -> "nic0". INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<std::string> ParseResourceName(absl::string_view name,
                                              absl::string_view collection,
                                              absl::string_view field);

}  // namespace vmig

#endif  // VMIGD_PROTO_CONVERT_H_
