#include "vfio/state.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmig::vfio {
namespace {

constexpr std::array<absl::string_view, kNumDeviceStates> kStateNames = {
    "ERROR",    "STOP",        "RUNNING",  "STOP_COPY",
    "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
};

struct FlagName {
  MigrationFlag flag;
  absl::string_view name;
};
constexpr std::array<FlagName, 3> kFlagNames = {{
    {kMigStopCopy, "stop_copy"},
    {kMigP2P, "p2p"},
    {kMigPreCopy, "pre_copy"},
}};

}  // namespace

std::string MigrationFlags::ToString() const {
  std::vector<absl::string_view> names;
  for (const auto& f : kFlagNames) {
    if (has(f.flag)) names.push_back(f.name);
  }
  uint64_t unknown = bits_ & ~uint64_t{7};
  std::string out = absl::StrJoin(names, "|");
  if (unknown != 0) {
    absl::StrAppend(&out, out.empty() ? "" : "|", "0x", absl::Hex(unknown));
  }
  return out.empty() ? "none" : out;
}

absl::string_view DeviceStateName(DeviceState s) {
  auto v = static_cast<uint32_t>(s);
  return v < kStateNames.size() ? kStateNames[v] : "INVALID";
}

std::optional<DeviceState> DeviceStateFromValue(uint32_t value) {
  if (value >= kNumDeviceStates) return std::nullopt;
  return static_cast<DeviceState>(value);
}

absl::StatusOr<DeviceState> ParseDeviceState(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
  absl::string_view s = upper;
  absl::ConsumePrefix(&s, "VFIO_DEVICE_STATE_");
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (s == kStateNames[i]) return static_cast<DeviceState>(i);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device state '", name, "' (expected one of ",
                   absl::StrJoin(kStateNames, ", "), ")"));
}

absl::StatusOr<MigrationFlags> ParseMigrationFlags(absl::string_view text) {
  uint64_t bits = 0;
  for (absl::string_view part :
       absl::StrSplit(text, absl::ByAnyChar(",|"), absl::SkipWhitespace())) {
    std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    bool found = false;
    for (const auto& f : kFlagNames) {
      if (lower == f.name) {
        bits |= f.flag;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown migration flag '", part,
                       "' (expected stop_copy, p2p or pre_copy)"));
    }
  }
  MigrationFlags flags(bits);
  if (!flags.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("migration flags '", text,
                     "' are not a valid set: stop_copy is mandatory"));
  }
  return flags;
}

}  // namespace vmig::vfio
