// The destination side of one migration session, the mirror of the source
// engine: it owns its devices (a group whose recovery is a reset), their
// RESUMING data sessions and the receive streams, serves what the source
// daemon asks (handshake, switchover-ack, commit, abort) and rolls itself
// back on any failure before its devices run.
#ifndef VMIGD_DAEMON_DESTINATION_SESSION_H_
#define VMIGD_DAEMON_DESTINATION_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/device_registry.h"
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
      DeviceRegistry& registry);
  ~DestinationSession();

  // Every device to RESUMING, in parallel. On failure the devices are reset
  // and released, the record FAILED, and the error names each device.
  absl::Status Prepare();

  // PeerService, as the source daemon calls it.
  absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest& req);
  absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest& req);
  absl::StatusOr<v1::CommitResponse> Commit(const v1::CommitRequest& req);
  absl::Status Abort(const v1::AbortRequest& req);
  // A local cancel (API or shutdown): rolls back unless already ended.
  absl::Status Cancel(const std::string& why);

  SessionRecord& record() { return *record_; }

 private:
  void RollBack(v1::Phase phase, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelStreams() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts devices in the source's stream order (the handshake's).
  absl::Status OrderLike(const v1::HandshakeRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckAllWritten(const v1::CommitRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Load and resume in lockstep; the response's timings.
  absl::StatusOr<v1::CommitResponse> LoadAndResume(bool serial)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Phase, error (if any) and the devices' states, in one update.
  void PublishDevices(v1::Phase phase, const std::string& error = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<SessionRecord> record_;
  const bool leave_stopped_;
  dataplane::Transport* const transport_;
  DeviceRegistry& registry_;
  // Serializes the peer's calls with local cancels.
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  vfio::DeviceGroup group_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<vfio::DataSession>> incoming_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<dataplane::Stream>> streams_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_SESSION_H_
