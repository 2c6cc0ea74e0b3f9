// Device migration states and capability flags with their Linux uAPI values.
#ifndef VMIGD_VFIO_STATE_H_
#define VMIGD_VFIO_STATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmig::vfio {

// enum vfio_device_mig_state. The numeric values are ABI: they travel in
// VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE and index the kernel's FSM table.
enum class DeviceState : uint32_t {
  kError = 0,
  kStop = 1,
  kRunning = 2,
  kStopCopy = 3,
  kResuming = 4,
  kRunningP2P = 5,
  kPreCopy = 6,
  kPreCopyP2P = 7,
};
inline constexpr int kNumDeviceStates = 8;

// VFIO_MIGRATION_* bits of vfio_device_feature_migration.flags.
enum MigrationFlag : uint64_t {
  kMigStopCopy = 1u << 0,
  kMigP2P = 1u << 1,
  kMigPreCopy = 1u << 2,
};

// A set of MigrationFlag bits.
class MigrationFlags {
 public:
  constexpr MigrationFlags() = default;
  constexpr explicit MigrationFlags(uint64_t bits) : bits_(bits) {}

  constexpr uint64_t bits() const { return bits_; }
  constexpr bool has(MigrationFlag f) const { return (bits_ & f) == f; }
  constexpr bool has_all(uint64_t mask) const { return (bits_ & mask) == mask; }
  // One of the four combinations the uAPI defines (STOP_COPY is mandatory).
  constexpr bool valid() const {
    return has(kMigStopCopy) && (bits_ & ~uint64_t{7}) == 0;
  }
  constexpr bool operator==(const MigrationFlags&) const = default;

  // "stop_copy|p2p|pre_copy" (the order of the bits, lower case).
  std::string ToString() const;

 private:
  uint64_t bits_ = 0;
};

inline constexpr MigrationFlags kAllMigrationFlags{kMigStopCopy | kMigP2P |
                                                   kMigPreCopy};

// uAPI names: "RUNNING", "PRE_COPY_P2P", ...
absl::string_view DeviceStateName(DeviceState s);
// Case-insensitive; accepts the uAPI names with or without a
// "VFIO_DEVICE_STATE_" prefix.
absl::StatusOr<DeviceState> ParseDeviceState(absl::string_view name);
// Values outside 0..7 (e.g. from a broken kernel) are not states.
std::optional<DeviceState> DeviceStateFromValue(uint32_t value);

// Case-insensitive list of flag names separated by ',' or '|'. Refuses
// unknown names and combinations the uAPI does not define.
absl::StatusOr<MigrationFlags> ParseMigrationFlags(absl::string_view text);

// The pre-copy states, where a caught-up data_fd has more to come.
constexpr bool IsPreCopyState(DeviceState s) {
  return s == DeviceState::kPreCopy || s == DeviceState::kPreCopyP2P;
}
// The saving group shares one data session.
constexpr bool IsSavingState(DeviceState s) {
  return s == DeviceState::kPreCopy || s == DeviceState::kPreCopyP2P ||
         s == DeviceState::kStopCopy;
}
// States in which the device runs and may change its internal state.
constexpr bool IsRunningState(DeviceState s) {
  return s == DeviceState::kRunning || s == DeviceState::kRunningP2P ||
         s == DeviceState::kPreCopy || s == DeviceState::kPreCopyP2P;
}

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_STATE_H_
