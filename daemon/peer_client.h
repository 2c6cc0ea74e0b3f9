// What the source engine asks of the destination daemon, each call with its
// deadline from configuration. Calls may come from two threads at once (the
// engine's, and its heartbeat's). The engine sees only this interface: the
// daemon gives it a gRPC client (control/server/grpc_peer_client.h), tests give
// it a fake.
#ifndef VMIGD_DAEMON_PEER_CLIENT_H_
#define VMIGD_DAEMON_PEER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// Deadlines of the peer calls (configuration: peer.*_timeout_ms).
struct PeerDeadlines {
  absl::Duration handshake = absl::Seconds(10);
  absl::Duration switchover_ack = absl::Seconds(5);
  absl::Duration commit = absl::Seconds(30);
  absl::Duration abort = absl::Seconds(2);
  // Liveness: the source's heartbeat period, and how long either side
  // waits without hearing from the other before it rolls back.
  absl::Duration heartbeat_interval = absl::Milliseconds(500);
  absl::Duration liveness = absl::Seconds(3);
};

class PeerClient {
 public:
  virtual ~PeerClient() = default;
  virtual absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest& req) = 0;
  virtual absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest& req) = 0;
  virtual absl::StatusOr<v1::CommitResponse> Commit(
      const v1::CommitRequest& req) = 0;
  virtual absl::StatusOr<v1::AbortResponse> Abort(
      const v1::AbortRequest& req) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& req) = 0;
  // After a commit: the source's report for the destination's session.
  virtual absl::Status Report(const v1::ReportRequest& req) = 0;
  // The deadlines this client calls with (the engine's liveness bound).
  virtual PeerDeadlines deadlines() const { return PeerDeadlines{}; }
  // Ends the calls in flight now (a cancel must not wait out a hung peer's
  // deadline); they fail with CANCELLED. Later calls are not affected.
  virtual void CancelPending() {}
};

// Makes a client for the peer at `address` (a gRPC target, e.g.
// "unix:///run/vmigd/peer.sock" or "dns:///host:7443").
using PeerClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<PeerClient>>(
        const std::string& address)>;

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_PEER_CLIENT_H_
