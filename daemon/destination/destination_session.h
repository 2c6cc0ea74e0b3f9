// The destination side of one migration session, the mirror of the source
// engine: it owns its devices (a group whose recovery is a reset), their
// RESUMING data sessions and the receive streams, serves what the source
// daemon asks (handshake, switchover-ack, commit, abort, heartbeat) and
// rolls itself back on any failure before its devices run.
//
// The commit has one decision point, `decision_`: a commit begins only if no
// rollback fenced it off first, and a rollback (abort, cancel, a silent
// source, a failed stream) happens only if no commit began. Once a commit
// has begun, its outcome is COMMITTED if any device ran, else ABORTED (the
// devices reset), and every later call answers with that outcome.
#ifndef VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_
#define VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/daemon_events.h"
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
  enum class Decision { kNone, kCommitting, kCommitted, kAborted };

  // Fences off the commit for a rollback (if no commit had begun).
  // Returns the decision before: kNone if this call fenced it.
  Decision Fence(const std::string& why) ABSL_LOCKS_EXCLUDED(state_mu_);
  v1::CommitOutcome Outcome() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void Touch() ABSL_LOCKS_EXCLUDED(state_mu_);
  // Records how the commit ended; `resp` is what every later call answers.
  void Decide(Decision d, const v1::CommitResponse& resp)
      ABSL_LOCKS_EXCLUDED(state_mu_);
  // ABORTED with the phase and the error once the session has ended.
  absl::Status EndedError() const;
  // The name of the first failed stream and its error, or "".
  std::string FailedStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollBack(v1::Phase phase, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelStreams() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The session's frame protection (unprotected only if both daemons are
  // configured so) and its keys, from the handshake; the source's MAC is
  // checked to be unicast.
  struct Agreement {
    dataplane::Protection protection = dataplane::Protection::kAes256Gcm;
    SessionKeys keys{};
    std::string key_share;
  };
  absl::Status Agree(const v1::HandshakeRequest& req, Agreement& out);
  // Puts devices in the source's stream order (the handshake's).
  absl::Status OrderLike(const v1::HandshakeRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Several devices resume in lockstep through RUNNING_P2P: each needs P2P.
  absl::Status CheckLockstep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckAllWritten(const v1::CommitRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Load and resume in lockstep; the response's timings.
  v1::CommitResponse LoadAndResume(bool serial)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a resume that failed: whether any device ran.
  bool AnyRan() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Per device, its write rate while it pushed back (0: it never did).
  std::vector<double> WriteRates() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The devices' bytes and write rates, for the destination's progress.
  void PublishProgress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Phase, error (if any) and the devices' states, in one update.
  void PublishDevices(v1::Phase phase, const std::string& error = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<SessionRecord> record_;
  const bool leave_stopped_;
  dataplane::Transport* const transport_;
  DeviceRegistry& registry_;
  // Serializes the work on the devices and streams (the peer's calls and
  // local cancels). Never taken under state_mu_.
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  vfio::DeviceGroup group_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<vfio::DataSession>> incoming_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<dataplane::Stream>> streams_ ABSL_GUARDED_BY(mu_);
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
  mutable absl::Mutex state_mu_ ABSL_ACQUIRED_AFTER(mu_);
  Decision decision_ ABSL_GUARDED_BY(state_mu_) = Decision::kNone;
  v1::CommitResponse answer_ ABSL_GUARDED_BY(state_mu_);
  bool handshaken_ ABSL_GUARDED_BY(state_mu_) = false;
  absl::Time expiry_ ABSL_GUARDED_BY(state_mu_) = absl::InfiniteFuture();
  absl::Duration expire_after_ ABSL_GUARDED_BY(state_mu_);
  absl::Time last_contact_ ABSL_GUARDED_BY(state_mu_);
  std::string source_ ABSL_GUARDED_BY(state_mu_) = "the source";
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_DESTINATION_SESSION_H_
