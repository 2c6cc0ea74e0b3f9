// Reading whole files.
#ifndef VMIGD_COMMON_FILES_H_
#define VMIGD_COMMON_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace vmig {

// NotFound naming the path if it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Empty if it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace vmig

#endif  // VMIGD_COMMON_FILES_H_
