// Lets fmt (and so spdlog) format absl::string_view, which Debian's Abseil
// keeps distinct from std::string_view.
#ifndef VMIGD_COMMON_FMT_ABSL_H_
#define VMIGD_COMMON_FMT_ABSL_H_

#include "absl/strings/string_view.h"
#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(s.data(), s.size()), ctx);
  }
};

#endif  // VMIGD_COMMON_FMT_ABSL_H_
