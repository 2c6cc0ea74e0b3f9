#include "dataplane/eal.h"

#include <fcntl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmig::dataplane {
namespace {

// Every hugetlbfs mount point, from /proc/mounts.
std::vector<std::string> HugetlbfsMounts() {
  std::vector<std::string> out;
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    if (fields >> dev >> dir >> type && type == "hugetlbfs") out.push_back(dir);
  }
  return out;
}

// Enough free 2 MiB pages for one process (its mbuf pool and memif
// regions: 80-160 MiB measured, 512 MiB with room) and a mounted hugetlbfs.
// A pool drained by other processes, or by files of killed ones, falls back
// to --no-huge instead of failing mempool creation half-way.
bool HugepagesAvailable() {
  constexpr long kMinFreePages = 256;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  long free_pages = 0;
  while (std::getline(meminfo, line)) {
    if (absl::StartsWith(line, "HugePages_Free:")) {
      free_pages = std::stol(line.substr(15));
    }
  }
  return free_pages >= kMinFreePages && !HugetlbfsMounts().empty();
}

bool g_initialized = false;
std::string g_file_prefix;  // this instance's, set by InitEal

// rte_eal_cleanup() unmaps the hugepages but leaves the files of the
// segments still allocated (a few MiB: what was never freed, such as the
// mempools), which hold the pages until someone deletes them. They are
// this instance's (its own file prefix), so they go with it.
int RemoveOwnHugepageFiles(const std::string& prefix) {
  if (prefix.empty()) return 0;
  const std::string own = prefix + "map_";
  int removed = 0;
  for (const std::string& dir : HugetlbfsMounts()) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::error_code rm;
      if (absl::StartsWith(it->path().filename().string(), own) &&
          std::filesystem::remove(it->path(), rm)) {
        ++removed;
      }
    }
  }
  return removed;
}

// Whether a live process holds the prefix: EAL's primary keeps a write
// lock on <runtime dir>/config for its whole life (that lock is how EAL
// itself refuses a second primary).
bool PrefixHeldByALiveInstance(const std::string& prefix) {
  const std::string config = RuntimeDirOf(prefix) + "/config";
  const int fd = open(config.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // never started, or its directory was removed
  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  close(fd);
  return held;
}

}  // namespace

std::string RuntimeDirOf(const std::string& file_prefix) {
  // EAL's choice (eal_create_runtime_dir): systemd's RUNTIME_DIRECTORY,
  // then /var/run for root, then XDG_RUNTIME_DIR, then /tmp.
  std::string base;
  if (const char* d = std::getenv("RUNTIME_DIRECTORY"); d != nullptr) {
    base = d;
  } else if (getuid() == 0) {
    base = "/var/run";
  } else if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr) {
    base = x;
  } else {
    base = "/tmp";
  }
  return absl::StrCat(base, "/dpdk/", file_prefix);
}

int RemoveDeadInstanceHugepageFiles(const std::string& file_prefix) {
  if (file_prefix.empty() || PrefixHeldByALiveInstance(file_prefix)) return 0;
  return RemoveOwnHugepageFiles(file_prefix);
}

std::vector<std::string> EalArguments(const EalOptions& o) {
  std::vector<std::string> args = {"vmigd"};
  if (o.cpu_set.empty()) {
    args.insert(args.end(), {"-l", o.lcores});
  } else {
    // DPDK's --lcores group form: every listed lcore floats over the CPUs.
    args.insert(args.end(), {"--lcores", absl::StrCat("(", o.lcores, ")@(",
                                                      o.cpu_set, ")")});
  }
  args.insert(args.end(),
              {"--file-prefix", o.file_prefix, "--log-level", "lib.eal:warning",
               "--log-level", "pmd.net.memif:warning"});
  if (o.no_pci) args.push_back("--no-pci");
  if (o.memory_mb > 0) {
    args.insert(args.end(), {"-m", absl::StrCat(o.memory_mb)});
  } else if (!HugepagesAvailable()) {
    // --in-memory cannot go with --no-huge; -m is required or EAL gets 64 MB.
    args.insert(args.end(), {"--no-huge", "-m", "512"});
  }
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  return args;
}

absl::Status InitEal(const EalOptions& options) {
  if (g_initialized)
    return absl::FailedPreconditionError("EAL is already initialized");
  if (options.file_prefix.empty()) {
    return absl::InvalidArgumentError(
        "EAL: a per-instance file prefix is required");
  }
  // Before the arguments: the files removed free their pages, which
  // EalArguments counts.
  RemoveDeadInstanceHugepageFiles(options.file_prefix);
  std::vector<std::string> args = EalArguments(options);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    return absl::UnavailableError(absl::StrCat("rte_eal_init(",
                                               absl::StrJoin(args, " "),
                                               "): ", rte_strerror(rte_errno)));
  }
  g_initialized = true;
  g_file_prefix = options.file_prefix;
  return absl::OkStatus();
}

std::string TelemetrySocketPath() {
  if (!g_initialized) return "";
  return std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
}

void CleanupEal() {
  if (!g_initialized) return;
  // rte_eal_cleanup() leaves the runtime directory (/var/run/dpdk/<prefix>:
  // config, fbarrays, sockets, ~6 MiB without hugepages) behind. The prefix
  // is this instance's own, so its directory goes with it; otherwise every
  // run with a fresh prefix (tests, benchmarks) leaks one.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  RemoveOwnHugepageFiles(g_file_prefix);
  std::error_code ec;
  if (!runtime_dir.empty()) std::filesystem::remove_all(runtime_dir, ec);
  g_initialized = false;
}

}  // namespace vmig::dataplane
