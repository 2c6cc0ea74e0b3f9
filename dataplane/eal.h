// DPDK EAL bring-up from configuration, once per process.
#ifndef VMIGD_DATAPLANE_EAL_H_
#define VMIGD_DATAPLANE_EAL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vmig::dataplane {

struct EalOptions {
  std::string lcores = "0";  // main lcore first, then workers (-l syntax)
  // CPUs the lcores share ("0-1"); empty: lcore N pinned to CPU N.
  std::string cpu_set;
  std::string file_prefix;  // required: one per process sharing a host
  uint32_t memory_mb = 0;   // 0: hugepages if available, else --no-huge -m 512
  std::vector<std::string> extra_args;
  bool no_pci = true;
};

// Removes the hugepage files a dead earlier instance with this file prefix
// left, unless a live instance holds the prefix (then EAL refuses to start
// anyway). Why: a memif zero-copy client hands the server EAL's segment
// descriptors, so after the client is killed its files can stay open in the
// server for a while; EAL's own clean-up at start skips a file someone
// holds and then reuses it, so a restarted client's memory would be pages
// the server still maps (a restarted source died at start so, 2 in about
// 750 kills). Unlinked first, EAL makes fresh files; the server keeps the
// old pages until it lets go. InitEal calls it. Returns how many it removed.
int RemoveDeadInstanceHugepageFiles(const std::string& file_prefix);
// EAL's runtime directory for a prefix, as EAL chooses it (the comment on
// TelemetrySocketPath below).
std::string RuntimeDirOf(const std::string& file_prefix);

// Builds the argument list (exposed for tests and logs).
std::vector<std::string> EalArguments(const EalOptions& options);
// rte_eal_init with those arguments. A second call is an error.
absl::Status InitEal(const EalOptions& options);
void CleanupEal();
// Where DPDK's telemetry socket is once InitEal succeeded
// (<runtime dir>/dpdk_telemetry.v2; the runtime dir is
// $RUNTIME_DIRECTORY/dpdk/<file prefix> under systemd, /var/run/dpdk/<file
// prefix> for root otherwise); "" before.
std::string TelemetrySocketPath();

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_EAL_H_
