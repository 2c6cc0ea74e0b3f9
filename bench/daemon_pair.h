// Two vmigd daemons on this host joined by memif, for benchmarks that
// measure whole migrations: a source (memif zero-copy client, so that it
// reads device state straight into shared memory) and a destination (the
// memif server, which copies frames out), each with its data-plane worker on
// its own core.
#ifndef VMIGD_BENCH_DAEMON_PAIR_H_
#define VMIGD_BENCH_DAEMON_PAIR_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/stall_sentinel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "vfio/emu/spec.h"
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
  // whether every source device runs with the digest it had before (one
  // whose workload dirties it: whether it runs).
  bool completed = true;
  bool source_intact = false;
  // A session that failed after the destination committed (Session.
  // committed): whether every source device stayed stopped.
  bool committed = false;
  bool source_stopped = false;
};

// The longest host stall the sentinel saw during an outcome's switchover
// (zero if none): the session last changed about when it ended, and it
// lasted the report's downtime, give or take 20 ms.
absl::Duration SwitchoverStall(const StallSentinel& sentinel,
                               const MigrationOutcome& out);

struct MigrateOptions {
  // The destination devices' specs (default: the source's sizes, flags and
  // arcs, unthrottled).
  std::vector<std::string> dest_specs;
  // A session that does not complete is an outcome, not an error.
  bool accept_failure = false;
  // Runs on a thread of its own from the moment the session started (with
  // the session's id) while Migrate polls it; Migrate waits for it before
  // it looks at the outcome. A soak cancels or restarts a daemon here.
  std::function<void(const std::string& session)> during;
  // Runs on the calling thread once the session ended and `during`
  // returned, before Migrate looks at the outcome: a soak starts a daemon
  // it stopped again here (a child started from `during`'s thread would be
  // killed when that thread ends: vmigd dies with its parent thread).
  std::function<void(const std::string& session)> after_end;
};

struct PairOptions {
  int workers = 1;
  // Inside both daemons' dataplane { } section, e.g. inject_faults { ... }.
  std::string dataplane_extra;
  // The source's memif in zero-copy mode (the fastest); off: copy mode,
  // which redials a restarted destination by itself (DPDK 22.11 cannot
  // redial a zero-copy client).
  bool zero_copy = true;
  // Each daemon its own state directory (journal, emulated devices' state
  // files), so that a restarted daemon recovers as in production. Off for
  // measurements: emulated devices then write their state files on the
  // downtime path, which a kernel device does not.
  bool state_dirs = false;
  // Both daemons' calibration_file (empty: none).
  std::string calibration_file;
  // Both daemons' peer.liveness_timeout_ms (heartbeats every 200 ms);
  // 0: the default.
  int liveness_ms = 0;
};

// What a daemon holds, from /proc.
struct ProcessResources {
  uint64_t rss_bytes = 0;
  uint64_t rss_anon_bytes = 0;  // of which private heap and stacks
  int threads = 0, fds = 0, mappings = 0;
};

class DaemonPair {
 public:
  // Starts both daemons from `vmigd` (a path), each with `workers` worker
  // lcores (one: pinned to a core each, the two daemons on different cores;
  // more: all of a daemon's lcores share the host's CPUs); fails if either
  // does not answer within 20 s.
  static absl::StatusOr<std::unique_ptr<DaemonPair>> Start(
      const std::string& vmigd, int workers = 1);
  static absl::StatusOr<std::unique_ptr<DaemonPair>> Start(
      const std::string& vmigd, const PairOptions& options);
  ~DaemonPair();

  // Kills the destination daemon (SIGKILL, or SIGTERM and a wait for it to
  // end).
  void StopDestination(bool kill);
  // Starts the destination again on the same configuration (and state
  // directory); returns once it answers and the data-plane link is up on
  // both ends (or an error after 30 s).
  absl::Status StartDestinationAgain();
  // The same for either daemon: SIGKILL (reaped at once), whether it still
  // runs (not exited, and answering health), and a start again as above.
  void Kill(bool source);
  bool Alive(bool source);
  // How a daemon that Alive() found gone ended ("killed by signal 11").
  const std::string& Death(bool source) const {
    return source ? src_death_ : dst_death_;
  }
  absl::Status StartAgain(bool source);
  // Whether both ends report their data-plane link up now.
  bool LinkUpBothEnds();
  // Until both ends do (at most 30 s); the error names what came `after`.
  absl::Status AwaitLinkUp(const std::string& after);
  // The daemons' APIs (valid until the daemon is started again).
  v1::MigrationService::Stub& migration(bool source) {
    return source ? *src_mig_ : *dst_mig_;
  }
  v1::DeviceService::Stub& devices(bool source) {
    return source ? *src_dev_ : *dst_dev_;
  }
  // The destination's control address, for StartMigrationRequest.peer.
  const std::string& destination_address() const { return dst_addr_; }
  // Cancels `session` on the source; the call's status.
  grpc::Status Cancel(const std::string& session);
  // The source's (or destination's) view of `session`.
  v1::Session SessionOf(const std::string& session, bool source);
  absl::StatusOr<ProcessResources> Resources(bool source) const;
  // The devices attached to the source (or destination): "id (session)" for
  // a device a session holds, "id" for a free one.
  std::vector<std::string> AttachedDevices(bool source);
  // What the source (or destination) knows of the class of a device of
  // emulated `spec`: the device as AttachDevice describes it, measures and
  // all (a device of the spec is attached for the look, then detached).
  absl::StatusOr<v1::Device> DescribeClass(bool source,
                                           const std::string& spec);
  // Where the daemons' configurations and logs are.
  const std::string& dir() const { return dir_; }

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
  // Spawns the daemon of `conf` and waits until it answers on `sock`.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Spawn1(const std::string& conf,
                                                        const std::string& sock,
                                                        const std::string& log,
                                                        pid_t* pid);
  std::string vmigd_;
  // Detaches device `id` from both daemons (best effort).
  void DetachBoth(const std::string& id);
  std::string dir_;
  pid_t dst_pid_ = -1, src_pid_ = -1;
  std::unique_ptr<v1::DeviceService::Stub> src_dev_, dst_dev_;
  std::unique_ptr<v1::MigrationService::Stub> src_mig_, dst_mig_;
  std::unique_ptr<grpc::health::v1::Health::Stub> src_health_, dst_health_;
  int restarts_ = 0;
  std::string src_death_, dst_death_;
  std::string dst_addr_;
  int sessions_ = 0;
};

// The destination device Migrate attaches for the `i`th source device of
// `spec` when the caller names none: its sizes, flags and arcs, unthrottled.
std::string DestSpecFor(const vfio::emu::EmuSpec& spec, size_t i);

// Where vmigd is: next to this binary's build tree, installed, or on PATH.
std::string FindVmigd();

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_DAEMON_PAIR_H_
