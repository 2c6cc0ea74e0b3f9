// The vmig.v1 gRPC services, thin adapters over the daemon's registries.
#ifndef VMIGD_CONTROL_SERVER_SERVICES_H_
#define VMIGD_CONTROL_SERVER_SERVICES_H_

#include "control/server/peer_authorizer.h"
#include "daemon/device_registry.h"
#include "daemon/session/session_manager.h"
#include "dataplane/transport.h"
#include "vmig/v1/dataplane.grpc.pb.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"
#include "vmig/v1/peer.grpc.pb.h"

namespace vmig::server {

class DeviceServiceImpl final : public v1::DeviceService::Service {
 public:
  // `history` (may be null) fills each device's measures.
  explicit DeviceServiceImpl(daemon::DeviceRegistry& devices,
                             const daemon::MeasureHistory* history = nullptr)
      : devices_(devices), history_(history) {}
  grpc::Status AttachDevice(grpc::ServerContext* ctx,
                            const v1::AttachDeviceRequest* req,
                            v1::Device* resp) override;
  grpc::Status DetachDevice(grpc::ServerContext* ctx,
                            const v1::DetachDeviceRequest* req,
                            v1::DetachDeviceResponse* resp) override;
  grpc::Status GetDevice(grpc::ServerContext* ctx,
                         const v1::GetDeviceRequest* req,
                         v1::Device* resp) override;
  grpc::Status ListDevices(grpc::ServerContext* ctx,
                           const v1::ListDevicesRequest* req,
                           v1::ListDevicesResponse* resp) override;

 private:
  // A described device with what the history knows of its class.
  v1::Device WithMeasures(v1::Device d) const;

  daemon::DeviceRegistry& devices_;
  const daemon::MeasureHistory* const history_;
};

class MigrationServiceImpl final : public v1::MigrationService::Service {
 public:
  explicit MigrationServiceImpl(daemon::SessionManager& sessions)
      : sessions_(sessions) {}
  grpc::Status PrepareIncoming(grpc::ServerContext* ctx,
                               const v1::PrepareIncomingRequest* req,
                               v1::Session* resp) override;
  grpc::Status StartMigration(grpc::ServerContext* ctx,
                              const v1::StartMigrationRequest* req,
                              v1::Session* resp) override;
  grpc::Status UpdateSession(grpc::ServerContext* ctx,
                             const v1::UpdateSessionRequest* req,
                             v1::Session* resp) override;
  grpc::Status Switchover(grpc::ServerContext* ctx,
                          const v1::SwitchoverRequest* req,
                          v1::Session* resp) override;
  grpc::Status Cancel(grpc::ServerContext* ctx, const v1::CancelRequest* req,
                      v1::Session* resp) override;
  grpc::Status Resolve(grpc::ServerContext* ctx, const v1::ResolveRequest* req,
                       v1::Session* resp) override;
  grpc::Status GetSession(grpc::ServerContext* ctx,
                          const v1::GetSessionRequest* req,
                          v1::Session* resp) override;
  grpc::Status ListSessions(grpc::ServerContext* ctx,
                            const v1::ListSessionsRequest* req,
                            v1::ListSessionsResponse* resp) override;
  grpc::Status WatchSession(
      grpc::ServerContext* ctx, const v1::WatchSessionRequest* req,
      grpc::ServerWriter<v1::SessionEvent>* writer) override;

 private:
  daemon::SessionManager& sessions_;
};

// Daemon-to-daemon coordination, served on the same listeners as the public
// API but only to peer daemons: every call is checked by `authorizer`.
class PeerServiceImpl final : public v1::PeerService::Service {
 public:
  PeerServiceImpl(daemon::SessionManager& sessions, PeerAuthorizer authorizer)
      : sessions_(sessions), authorizer_(std::move(authorizer)) {}
  grpc::Status Handshake(grpc::ServerContext* ctx,
                         const v1::HandshakeRequest* req,
                         v1::HandshakeResponse* resp) override;
  grpc::Status SwitchoverAck(grpc::ServerContext* ctx,
                             const v1::SwitchoverAckRequest* req,
                             v1::SwitchoverAckResponse* resp) override;
  grpc::Status Commit(grpc::ServerContext* ctx, const v1::CommitRequest* req,
                      v1::CommitResponse* resp) override;
  grpc::Status Abort(grpc::ServerContext* ctx, const v1::AbortRequest* req,
                     v1::AbortResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx,
                         const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override;
  grpc::Status Report(grpc::ServerContext* ctx, const v1::ReportRequest* req,
                      v1::ReportResponse* resp) override;

 private:
  // OK for a peer daemon; PERMISSION_DENIED (logged) for anyone else.
  grpc::Status Authorize(const grpc::ServerContext& ctx,
                         const char* method) const;

  daemon::SessionManager& sessions_;
  const PeerAuthorizer authorizer_;
};

// The data plane's ports, counters and flows. `transports` may be empty (no
// data plane configured).
class DataplaneServiceImpl final : public v1::DataplaneService::Service {
 public:
  DataplaneServiceImpl(std::vector<dataplane::Transport*> transports,
                       daemon::SessionManager& sessions)
      : transports_(std::move(transports)), sessions_(sessions) {}
  grpc::Status GetDataplaneStatus(grpc::ServerContext* ctx,
                                  const v1::GetDataplaneStatusRequest* req,
                                  v1::DataplaneStatus* resp) override;

 private:
  const std::vector<dataplane::Transport*> transports_;
  daemon::SessionManager& sessions_;
};

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_SERVICES_H_
