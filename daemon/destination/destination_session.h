// The destination side of one migration session, the mirror of the source
// engine: it owns its devices (a group whose recovery is a reset), their
// RESUMING data sessions and the receive streams, serves what the source
// daemon asks (handshake, switchover-ack, commit, abort, heartbeat) and
// rolls itself back on any failure before its devices run.
//
// The commit has one decision point, `decision_` (commit_decision.h); the
// work on the devices is load_and_resume.h's, the handshake's checks
// destination_wire.h's, the progress destination_progress.h's.
#ifndef VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_
#define VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "daemon/daemon_events.h"
#include "daemon/destination/commit_decision.h"
#include "daemon/destination/destination_progress.h"
#include "daemon/device_registry.h"
#include "daemon/link_probe.h"
#include "daemon/measures/measure_history.h"
#include "daemon/session_keys.h"
#include "daemon/session_record.h"
#include "dataplane/transport.h"
#include "vfio/device_group.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

class DestinationSession {
 public:
  // `devices` are claimed for the session in `registry` already; the
  // session releases them when it ends. `transport` may be null (then the
  // handshake is refused).
  DestinationSession(
      std::shared_ptr<SessionRecord> record,
      std::vector<std::string> device_ids,
      std::vector<std::shared_ptr<vfio::MigrationDevice>> devices,
      bool leave_stopped, dataplane::Transport* transport,
      DeviceRegistry& registry, MeasureHistory* history = nullptr,
      DaemonEvents& events = DaemonEvents::Ignored());
  ~DestinationSession();

  // Every device to RESUMING, in parallel. On failure the devices are reset
  // and released, the record FAILED, and the error names each device.
  absl::Status Prepare();

  // PeerService, as the source daemon calls it.
  absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest& req);
  absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest& req);
  // `deadline`: the caller's; a commit is not begun past it.
  absl::StatusOr<v1::CommitResponse> Commit(
      const v1::CommitRequest& req,
      absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<v1::AbortResponse> Abort(const v1::AbortRequest& req);
  v1::HeartbeatResponse Heartbeat();
  // The source's downtime report, kept in this session's record once it
  // has committed.
  absl::Status Report(const v1::ReportRequest& req);
  // A local cancel (API or shutdown): rolls back unless already ended, or
  // FAILED_PRECONDITION once a commit has begun.
  absl::Status Cancel(const std::string& why);
  // Called periodically: rolls back a handshaken session whose source has
  // been silent for `liveness`, or one of whose streams failed (the error
  // names the device and the cause), or a PREPARED one past its expiry.
  // Returns when it next needs a look: InfiniteFuture once there is nothing
  // more to watch (the session ended or began its commit).
  absl::Time CheckHealth(absl::Time now, absl::Duration liveness);
  // A PREPARED session that no source joins within `d` from now expires.
  void ExpireAfter(absl::Duration d);
  // Its source asked and was told to wait (limits.max_incoming_sessions),
  // `place` back in line: PHASE_QUEUED, and the expiry counts from now.
  void MarkQueued(size_t place);
  // Who the source is (its control address), for errors and the record.
  void set_source(std::string source);

  SessionRecord& record() { return *record_; }

 private:
  using Decision = CommitDecision::Decision;

  // ABORTED with the phase and the error once the session has ended.
  absl::Status EndedError() const;
  // The name of the first failed stream and its error, or "".
  std::string FailedStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollBack(v1::Phase phase, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelStreams() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts devices in the source's stream order (the handshake's).
  absl::Status OrderLike(const v1::HandshakeRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One receive stream per device, and the link probe's if asked for.
  absl::Status AddStreams(const v1::HandshakeRequest& req,
                          const dataplane::StreamSpec& spec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What this daemon knows of the devices, for the handshake's answer.
  void DescribeDevices(const v1::HandshakeRequest& req,
                       v1::HandshakeResponse& resp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckAllWritten(const v1::CommitRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishProgress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PublishStreamProgress(*record_, streams_, absl::Now() - prepared_at_);
  }
  void PublishDevices(v1::Phase phase, const std::string& error = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PublishDeviceStates(*record_, ids_, group_, phase, error);
  }

  const std::shared_ptr<SessionRecord> record_;
  const bool leave_stopped_;
  dataplane::Transport* const transport_;
  DeviceRegistry& registry_;
  // Serializes the work on the devices and streams (the peer's calls and
  // local cancels). Never taken under the decision's lock.
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  vfio::DeviceGroup group_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<vfio::DataSession>> incoming_
      ABSL_GUARDED_BY(mu_);
  ReceiveStreams streams_ ABSL_GUARDED_BY(mu_);
  // The link probe's sink and stream (the source asked for one).
  std::unique_ptr<vfio::DataSession> probe_sink_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<dataplane::Stream> probe_ ABSL_GUARDED_BY(mu_);
  // Per device (in ids_ order): its history key and one arc as measured
  // when it was prepared.
  MeasureHistory* const history_;
  DaemonEvents& events_;
  std::vector<std::string> history_keys_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> arcs_ ABSL_GUARDED_BY(mu_);
  absl::Time prepared_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration barrier_ ABSL_GUARDED_BY(mu_);  // beyond the slowest arc
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  // The decision, and what callers need while mu_ is held for long work
  // (a heartbeat or an abort during a commit's load is answered at once).
  CommitDecision decision_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_
