// Quoting caller input in error messages without echoing all of it: an id
// or spec of megabytes must not come back in a status message (gRPC sends
// it as metadata, whose limit turns the answer into RESOURCE_EXHAUSTED).
#ifndef VMIGD_COMMON_BOUNDED_H_
#define VMIGD_COMMON_BOUNDED_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vmig {

// `text` in single quotes, cut to its first `max` bytes (saying how long
// it was) when longer.
inline std::string Bounded(absl::string_view text, size_t max = 64) {
  if (text.size() <= max) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, max), "...' (", text.size(),
                      " bytes)");
}

}  // namespace vmig

#endif  // VMIGD_COMMON_BOUNDED_H_
