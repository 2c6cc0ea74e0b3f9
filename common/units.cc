#include "common/units.h"

#include <array>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/bounded.h"

namespace vmig {
namespace {

struct Suffix {
  absl::string_view text;
  double factor;
};

// Suffixes are compared whole, so their order does not matter. Bare K/M/G
// are binary, as most tools read them; KB/MB/GB are powers of ten.
constexpr std::array<Suffix, 16> kSuffixes = {{
    {"", 1},
    {"b", 1},
    {"k", 1024.0},
    {"kib", 1024.0},
    {"kb", 1e3},
    {"m", 1024.0 * 1024},
    {"mib", 1024.0 * 1024},
    {"mb", 1e6},
    {"g", 1024.0 * 1024 * 1024},
    {"gib", 1024.0 * 1024 * 1024},
    {"gb", 1e9},
    {"t", 1024.0 * 1024 * 1024 * 1024},
    {"tib", 1024.0 * 1024 * 1024 * 1024},
    {"tb", 1e12},
    {"p", 1024.0 * 1024 * 1024 * 1024 * 1024},
    {"pib", 1024.0 * 1024 * 1024 * 1024 * 1024},
}};

absl::StatusOr<double> ParseScaled(absl::string_view text,
                                   absl::string_view what) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < lower.size() && (absl::ascii_isdigit(lower[i]) || lower[i] == '.'))
    ++i;
  absl::string_view number(lower.data(), i);
  absl::string_view suffix =
      absl::StripAsciiWhitespace(absl::string_view(lower).substr(i));
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value) || value < 0 ||
      !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", what, " ", Bounded(text)));
  }
  for (const Suffix& s : kSuffixes) {
    if (suffix == s.text) return value * s.factor;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid ", what, " ", Bounded(text), ": unknown unit ",
      Bounded(suffix, 16),
      " (use B, KiB, MiB, GiB, TiB, or KB, MB, GB for powers of ten)"));
}

}  // namespace

absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  absl::StatusOr<double> v = ParseScaled(text, "size");
  if (!v.ok()) return v.status();
  // 2^64: past it (and past LLONG_MAX, for llround) no uint64_t holds it.
  if (*v >= 18446744073709551616.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("size ", Bounded(text), " is too large"));
  }
  return static_cast<uint64_t>(std::round(*v));
}

absl::StatusOr<double> ParseRate(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::string lower = absl::AsciiStrToLower(t);
  absl::string_view body = lower;
  if (!absl::ConsumeSuffix(&body, "/s") && body != "0") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid rate ", Bounded(text),
                     ": expected a size per second such as 2GiB/s"));
  }
  return ParseScaled(body, "rate");
}

std::string FormatBytes(double bytes) {
  constexpr std::array<absl::string_view, 5> kUnits = {"B", "KiB", "MiB", "GiB",
                                                       "TiB"};
  size_t u = 0;
  while (bytes >= 1024 && u + 1 < kUnits.size()) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return absl::StrFormat("%.0f B", bytes);
  return absl::StrFormat("%.2f %s", bytes, kUnits[u]);
}

std::string FormatRate(double bytes_per_s) {
  return absl::StrCat(FormatBytes(bytes_per_s), "/s");
}

}  // namespace vmig
