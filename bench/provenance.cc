#include "bench/provenance.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vmig::bench {
namespace {

// The value of the first "key<sep>value" line of `path` whose key starts
// with `key`, or "".
std::string Field(const char* path, absl::string_view key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, key)) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

}  // namespace

nlohmann::json Provenance(const std::vector<std::string>& command_line) {
  nlohmann::json p;
  p["cpu_model"] = Field("/proc/cpuinfo", "model name");
  p["online_cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  utsname u{};
  if (uname(&u) == 0) {
    p["kernel"] = std::string(u.sysname) + " " + u.release;
    p["machine"] = u.machine;
  }
  p["hugepages_total"] = Field("/proc/meminfo", "HugePages_Total");
  p["hugepage_size"] = Field("/proc/meminfo", "Hugepagesize");
  p["memory_total"] = Field("/proc/meminfo", "MemTotal");
  p["vmigd_version"] = VMIG_VERSION;
  p["vmigd_revision"] = VMIG_REVISION;
  p["date"] =
      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  p["command_line"] = absl::StrJoin(command_line, " ");
  return p;
}

}  // namespace vmig::bench
