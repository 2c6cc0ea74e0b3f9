#include "control/server/services.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "daemon/dataplane_status.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::server {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> r, T* resp) {
  if (!r.ok()) return ToGrpc(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

// Deadlines are honoured before work starts; gRPC itself fails a call whose
// deadline passes while it runs.
grpc::Status CheckDeadline(grpc::ServerContext* ctx) {
  if (ctx->IsCancelled() ||
      ctx->deadline() < std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "deadline exceeded");
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status DeviceServiceImpl::AttachDevice(grpc::ServerContext* ctx,
                                             const v1::AttachDeviceRequest* req,
                                             v1::Device* resp) {
  if (auto d = CheckDeadline(ctx); !d.ok()) return d;
  absl::StatusOr<v1::Device> attached = devices_.Attach(*req);
  if (attached.ok()) attached = WithMeasures(std::move(*attached));
  return Reply(std::move(attached), resp);
}

v1::Device DeviceServiceImpl::WithMeasures(v1::Device d) const {
  if (!history_ || d.device_class().empty()) return d;
  std::optional<daemon::DeviceMeasures> m = history_->Device(d.device_class());
  *d.mutable_measures() = daemon::MeasuresToProto(
      d.device_class(), m.value_or(daemon::DeviceMeasures{}));
  return d;
}

grpc::Status DeviceServiceImpl::DetachDevice(grpc::ServerContext*,
                                             const v1::DetachDeviceRequest* req,
                                             v1::DetachDeviceResponse*) {
  absl::StatusOr<std::string> id =
      ParseResourceName(req->name(), "devices", "name");
  if (!id.ok()) return ToGrpc(id.status());
  return ToGrpc(devices_.Detach(*id));
}

grpc::Status DeviceServiceImpl::GetDevice(grpc::ServerContext*,
                                          const v1::GetDeviceRequest* req,
                                          v1::Device* resp) {
  absl::StatusOr<std::string> id =
      ParseResourceName(req->name(), "devices", "name");
  if (!id.ok()) return ToGrpc(id.status());
  absl::StatusOr<v1::Device> got = devices_.Get(*id);
  if (got.ok()) got = WithMeasures(std::move(*got));
  return Reply(std::move(got), resp);
}

grpc::Status DeviceServiceImpl::ListDevices(grpc::ServerContext*,
                                            const v1::ListDevicesRequest*,
                                            v1::ListDevicesResponse* resp) {
  for (auto& d : devices_.List())
    *resp->add_devices() = WithMeasures(std::move(d));
  return grpc::Status::OK;
}

grpc::Status MigrationServiceImpl::PrepareIncoming(
    grpc::ServerContext* ctx, const v1::PrepareIncomingRequest* req,
    v1::Session* resp) {
  if (auto d = CheckDeadline(ctx); !d.ok()) return d;
  return Reply(sessions_.PrepareIncoming(*req), resp);
}

grpc::Status MigrationServiceImpl::StartMigration(
    grpc::ServerContext* ctx, const v1::StartMigrationRequest* req,
    v1::Session* resp) {
  if (auto d = CheckDeadline(ctx); !d.ok()) return d;
  return Reply(sessions_.StartMigration(*req), resp);
}

grpc::Status MigrationServiceImpl::UpdateSession(
    grpc::ServerContext*, const v1::UpdateSessionRequest* req,
    v1::Session* resp) {
  return Reply(sessions_.UpdateSession(*req), resp);
}

grpc::Status MigrationServiceImpl::Switchover(grpc::ServerContext*,
                                              const v1::SwitchoverRequest* req,
                                              v1::Session* resp) {
  return Reply(sessions_.Switchover(req->name()), resp);
}

grpc::Status MigrationServiceImpl::Cancel(grpc::ServerContext*,
                                          const v1::CancelRequest* req,
                                          v1::Session* resp) {
  return Reply(sessions_.Cancel(req->name()), resp);
}

grpc::Status MigrationServiceImpl::GetSession(grpc::ServerContext*,
                                              const v1::GetSessionRequest* req,
                                              v1::Session* resp) {
  return Reply(sessions_.Get(req->name()), resp);
}

grpc::Status MigrationServiceImpl::ListSessions(
    grpc::ServerContext*, const v1::ListSessionsRequest*,
    v1::ListSessionsResponse* resp) {
  for (auto& s : sessions_.List()) *resp->add_sessions() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status MigrationServiceImpl::Resolve(grpc::ServerContext*,
                                           const v1::ResolveRequest* req,
                                           v1::Session* resp) {
  return Reply(sessions_.Resolve(req->name(), req->decision()), resp);
}

grpc::Status MigrationServiceImpl::WatchSession(
    grpc::ServerContext* ctx, const v1::WatchSessionRequest* req,
    grpc::ServerWriter<v1::SessionEvent>* writer) {
  absl::Duration interval = absl::Milliseconds(200);
  if (req->has_interval()) {
    interval = FromProto(req->interval());
    if (interval < absl::Milliseconds(10) || interval > absl::Minutes(10)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "interval: must be 10ms to 10min");
    }
  }
  return ToGrpc(sessions_.Watch(
      req->name(), interval,
      [&](const v1::SessionEvent& ev) { return writer->Write(ev); },
      [&] { return ctx->IsCancelled(); }));
}

grpc::Status PeerServiceImpl::Authorize(const grpc::ServerContext& ctx,
                                        const char* method) const {
  absl::Status s = authorizer_.Check(PeerAuthorizer::CallerOf(ctx));
  if (s.ok()) return grpc::Status::OK;
  spdlog::warn("PeerService.{} from {} refused: {}", method, ctx.peer(),
               std::string(s.message()));
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      std::string(s.message()));
}

grpc::Status PeerServiceImpl::Handshake(grpc::ServerContext* ctx,
                                        const v1::HandshakeRequest* req,
                                        v1::HandshakeResponse* resp) {
  if (grpc::Status a = Authorize(*ctx, "Handshake"); !a.ok()) return a;
  return Reply(sessions_.PeerHandshake(*req, ctx->peer()), resp);
}

grpc::Status PeerServiceImpl::SwitchoverAck(grpc::ServerContext* ctx,
                                            const v1::SwitchoverAckRequest* req,
                                            v1::SwitchoverAckResponse* resp) {
  if (grpc::Status a = Authorize(*ctx, "SwitchoverAck"); !a.ok()) return a;
  return Reply(sessions_.PeerSwitchoverAck(*req), resp);
}

grpc::Status PeerServiceImpl::Commit(grpc::ServerContext* ctx,
                                     const v1::CommitRequest* req,
                                     v1::CommitResponse* resp) {
  if (grpc::Status a = Authorize(*ctx, "Commit"); !a.ok()) return a;
  // The caller's deadline: a commit is not begun once it has passed.
  const auto deadline = ctx->deadline();
  const absl::Time until =
      deadline == std::chrono::system_clock::time_point::max()
          ? absl::InfiniteFuture()
          : absl::FromChrono(deadline);
  return Reply(sessions_.PeerCommit(*req, until), resp);
}

grpc::Status PeerServiceImpl::Abort(grpc::ServerContext* ctx,
                                    const v1::AbortRequest* req,
                                    v1::AbortResponse* resp) {
  if (grpc::Status a = Authorize(*ctx, "Abort"); !a.ok()) return a;
  return Reply(sessions_.PeerAbort(*req), resp);
}

grpc::Status PeerServiceImpl::Heartbeat(grpc::ServerContext* ctx,
                                        const v1::HeartbeatRequest* req,
                                        v1::HeartbeatResponse* resp) {
  if (grpc::Status a = Authorize(*ctx, "Heartbeat"); !a.ok()) return a;
  return Reply(sessions_.PeerHeartbeat(*req), resp);
}

grpc::Status PeerServiceImpl::Report(grpc::ServerContext* ctx,
                                     const v1::ReportRequest* req,
                                     v1::ReportResponse*) {
  if (grpc::Status a = Authorize(*ctx, "Report"); !a.ok()) return a;
  return ToGrpc(sessions_.PeerReport(*req));
}

grpc::Status DataplaneServiceImpl::GetDataplaneStatus(
    grpc::ServerContext*, const v1::GetDataplaneStatusRequest*,
    v1::DataplaneStatus* resp) {
  if (transports_.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this daemon runs without a data plane (no "
                        "dataplane.ports configured)");
  }
  *resp = daemon::DataplaneStatusOf(transports_, [this](uint32_t id) {
    return sessions_.NameOfWireSession(id);
  });
  return grpc::Status::OK;
}

}  // namespace vmig::server
