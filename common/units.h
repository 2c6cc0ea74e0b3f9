// Byte sizes and rates as people write them: "256MiB", "2GiB/s", "1.5G".
#ifndef VMIGD_COMMON_UNITS_H_
#define VMIGD_COMMON_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmig {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// "4096", "64KiB", "256MiB", "1.5GiB", "10MB" (decimal), "2G" (binary, as
// most tools read it). Case-insensitive suffixes; no negative numbers.
absl::StatusOr<uint64_t> ParseBytes(absl::string_view text);
// A size per second: "2GiB/s", "500MB/s", "0" (zero, meaning "none").
absl::StatusOr<double> ParseRate(absl::string_view text);

// "256.0 MiB", "1.50 GiB".
std::string FormatBytes(double bytes);
// "1.50 GiB/s".
std::string FormatRate(double bytes_per_s);

}  // namespace vmig

#endif  // VMIGD_COMMON_UNITS_H_
