// Two vmigd daemons on this host joined by memif, for benchmarks that
// measure whole migrations: a source (memif zero-copy client, so that it
// reads device state straight into shared memory) and a destination (the
// memif server, which copies frames out), each with its data-plane worker on
// its own core.
#ifndef VMIGD_BENCH_DAEMON_PAIR_H_
#define VMIGD_BENCH_DAEMON_PAIR_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::bench {

struct MigrationOutcome {
  v1::Session source;  // with its downtime report
  bool verified = false;
  double total_seconds = 0;  // StartMigration to COMPLETED
  double cpu_seconds = 0;    // both daemons' user + system time
  uint64_t bytes = 0;        // every device's stream
  // With MigrateOptions::accept_failure: whether it completed, and, if not,
  // whether every source device runs with the digest it had before.
  bool completed = true;
  bool source_intact = false;
};

struct MigrateOptions {
  // The destination devices' specs (default: the source's sizes, flags and
  // arcs, unthrottled).
  std::vector<std::string> dest_specs;
  // A session that does not complete is an outcome, not an error.
  bool accept_failure = false;
};

class DaemonPair {
 public:
  // Starts both daemons from `vmigd` (a path), each with `workers` worker
  // lcores (one: pinned to a core each, the two daemons on different cores;
  // more: all of a daemon's lcores share the host's CPUs); fails if either
  // does not answer within 20 s.
  static absl::StatusOr<std::unique_ptr<DaemonPair>> Start(
      const std::string& vmigd, int workers = 1);
  ~DaemonPair();

  // Attaches `specs` (emulated) on the source as `ids`, and on the
  // destination devices of the same sizes; migrates them with `request`'s
  // budget and schedule; verifies every digest; detaches them all.
  absl::StatusOr<MigrationOutcome> Migrate(
      const std::vector<std::string>& ids,
      const std::vector<std::string>& specs, v1::StartMigrationRequest request,
      const MigrateOptions& options = {});

 private:
  DaemonPair() = default;
  double CpuSeconds() const;
  // Detaches device `id` from both daemons (best effort).
  void DetachBoth(const std::string& id);
  std::string dir_;
  std::vector<pid_t> pids_;
  std::unique_ptr<v1::DeviceService::Stub> src_dev_, dst_dev_;
  std::unique_ptr<v1::MigrationService::Stub> src_mig_, dst_mig_;
  std::string dst_addr_;
  int sessions_ = 0;
};

// Where vmigd is: next to this binary's build tree, installed, or on PATH.
std::string FindVmigd();

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_DAEMON_PAIR_H_
