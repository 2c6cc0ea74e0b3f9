// libFuzzer: the emulated device spec parser. A spec that parses must give
// a canonical string (what a device reports as its source) that parses
// again to the same canonical string.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "vfio/emu/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<vmig::vfio::emu::EmuSpec> spec =
      vmig::vfio::emu::ParseEmuSpec(text);
  if (!spec.ok()) {
    if (spec.status().message().size() > 4096) std::abort();  // echoed input
    return 0;
  }
  const std::string canonical = spec->ToString();
  absl::StatusOr<vmig::vfio::emu::EmuSpec> again =
      vmig::vfio::emu::ParseEmuSpec(canonical);
  if (!again.ok() || again->ToString() != canonical) std::abort();
  return 0;
}
