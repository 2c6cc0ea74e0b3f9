// The peer client over gRPC: one channel per session to the destination
// daemon, built from this daemon's configuration (TLS identity and CA for
// TCP peers, the calls' deadlines).
#ifndef VMIGD_CONTROL_SERVER_GRPC_PEER_CLIENT_H_
#define VMIGD_CONTROL_SERVER_GRPC_PEER_CLIENT_H_

#include "daemon/daemon_events.h"
#include "daemon/peer_client.h"
#include "vmig/v1/config.pb.h"

namespace vmig::server {

// A factory for the session manager. Reads the TLS files once, now; an
// error names the option. Failed calls are told to `events`, which must
// outlive every client made.
absl::StatusOr<daemon::PeerClientFactory> MakeGrpcPeerClientFactory(
    const v1::DaemonConfig& config, daemon::DaemonEvents& events);

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_GRPC_PEER_CLIENT_H_
