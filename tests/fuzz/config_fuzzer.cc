// libFuzzer: the daemon's configuration (protobuf text format), parsed,
// defaulted and validated as `vmigd --check-config` does. Any input gets a
// status; an error names an option or the parser's position and does not
// echo unbounded input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<vmig::v1::DaemonConfig> c =
      vmig::daemon::LoadConfig("", {text});
  if (!c.ok() && c.status().message().size() > 8192) std::abort();
  return 0;
}
