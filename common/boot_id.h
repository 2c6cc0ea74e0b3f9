// This boot's id (/proc/sys/kernel/random/boot_id): two processes that read
// the same one share one CLOCK_MONOTONIC, so their timestamps compare.
#ifndef VMIGD_COMMON_BOOT_ID_H_
#define VMIGD_COMMON_BOOT_ID_H_

#include <fstream>
#include <string>

namespace vmig {

// "" when it cannot be read (then no clock is assumed shared).
inline std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace vmig

#endif  // VMIGD_COMMON_BOOT_ID_H_
