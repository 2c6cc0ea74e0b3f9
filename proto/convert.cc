#include "proto/convert.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace vmig {

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return true;
}

v1::DeviceState ToProto(vfio::DeviceState s) {
  // The API's numbering is the uAPI's plus one (0 is "unspecified").
  return static_cast<v1::DeviceState>(static_cast<int>(s) + 1);
}

v1::MigrationFlags ToProto(vfio::MigrationFlags f) {
  v1::MigrationFlags out;
  out.set_stop_copy(f.has(vfio::kMigStopCopy));
  out.set_p2p(f.has(vfio::kMigP2P));
  out.set_pre_copy(f.has(vfio::kMigPreCopy));
  return out;
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ns = absl::ToUnixNanos(t);
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::StatusOr<std::string> ParseResourceName(absl::string_view name,
                                              absl::string_view collection,
                                              absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  absl::string_view id = name;
  if (!absl::ConsumePrefix(&id, collection) || !absl::ConsumePrefix(&id, "/") ||
      !IsValidId(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", name, "' is not a resource name of the form ", collection,
        "/{id}"));
  }
  return std::string(id);
}

}  // namespace vmig
