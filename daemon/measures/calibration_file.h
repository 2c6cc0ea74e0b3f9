// The calibration file (vmig.v1.Calibration, protobuf text format): read
// with every figure checked, written atomically, stamped with where it was
// measured. A daemon's own history in state_dir has the same format.
#ifndef VMIGD_DAEMON_MEASURES_CALIBRATION_FILE_H_
#define VMIGD_DAEMON_MEASURES_CALIBRATION_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmig/v1/calibration.pb.h"

namespace vmig::daemon {

inline constexpr uint32_t kCalibrationVersion = 1;

// INVALID_ARGUMENT naming the file, the line or the class and the field
// for a file that does not parse, has another version, or holds a figure
// no device has (negative, not finite, a rate over 1 TB/s, an arc over a
// minute); NOT_FOUND if it cannot be read.
absl::StatusOr<v1::Calibration> ReadCalibrationFile(const std::string& path);
// Checks `c` as ReadCalibrationFile does (`where` names it in errors).
absl::Status CheckCalibration(const v1::Calibration& c,
                              const std::string& where);
// Writes to a temporary file, syncs it and renames it over `path`: a
// reader (or a crash) sees the old file or the new one, never half.
absl::Status WriteCalibrationFile(const std::string& path,
                                  const v1::Calibration& c);
// This host, its CPU and kernel, now, this vmigd, and `method`.
v1::Calibration::Provenance MakeProvenance(const std::string& method);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_MEASURES_CALIBRATION_FILE_H_
