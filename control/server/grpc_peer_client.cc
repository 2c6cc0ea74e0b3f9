#include "control/server/grpc_peer_client.h"

#include <chrono>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "daemon/config.h"
#include "grpcpp/grpcpp.h"
#include "vmig/v1/peer.grpc.pb.h"

namespace vmig::server {
namespace {

class GrpcPeerClient final : public daemon::PeerClient {
 public:
  GrpcPeerClient(std::shared_ptr<grpc::Channel> channel,
                 daemon::PeerDeadlines deadlines, daemon::DaemonEvents& events)
      : stub_(v1::PeerService::NewStub(channel)),
        deadlines_(deadlines),
        events_(events) {}

  absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest& req) override {
    return Call(&v1::PeerService::Stub::Handshake, req, deadlines_.handshake,
                "handshake with the peer");
  }
  absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest& req) override {
    return Call(&v1::PeerService::Stub::SwitchoverAck, req,
                deadlines_.switchover_ack, "switchover-ack");
  }
  absl::StatusOr<v1::CommitResponse> Commit(
      const v1::CommitRequest& req) override {
    return Call(&v1::PeerService::Stub::Commit, req, deadlines_.commit,
                "commit");
  }
  absl::StatusOr<v1::AbortResponse> Abort(
      const v1::AbortRequest& req) override {
    return Call(&v1::PeerService::Stub::Abort, req, deadlines_.abort, "abort");
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& req) override {
    // A heartbeat that takes half the liveness bound is as good as lost.
    return Call(&v1::PeerService::Stub::Heartbeat, req, deadlines_.liveness / 2,
                "heartbeat");
  }
  absl::Status Report(const v1::ReportRequest& req) override {
    return Call(&v1::PeerService::Stub::Report, req, deadlines_.abort, "report")
        .status();
  }
  daemon::PeerDeadlines deadlines() const override { return deadlines_; }
  void CancelPending() override {
    absl::MutexLock lock(&mu_);
    for (grpc::ClientContext* c : pending_) c->TryCancel();
  }

 private:
  template <typename Req, typename Resp>
  using Method = grpc::Status (v1::PeerService::Stub::*)(grpc::ClientContext*,
                                                         const Req&, Resp*);

  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(Method<Req, Resp> method, const Req& req,
                            absl::Duration deadline, const char* what) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(deadline));
    {
      absl::MutexLock lock(&mu_);
      pending_.insert(&ctx);
    }
    Resp resp;
    absl::Status s = FromGrpc(((*stub_).*method)(&ctx, req, &resp), what);
    {
      absl::MutexLock lock(&mu_);
      pending_.erase(&ctx);
    }
    if (!s.ok()) {
      // This daemon's own cancel (CancelPending) is not the peer's failure.
      if (!absl::IsCancelled(s))
        events_.PeerCallFailed(what, absl::StatusCodeToString(s.code()));
      return s;
    }
    return resp;
  }

  std::unique_ptr<v1::PeerService::Stub> stub_;
  const daemon::PeerDeadlines deadlines_;
  daemon::DaemonEvents& events_;
  // The calls in flight, for CancelPending.
  absl::Mutex mu_;
  std::set<grpc::ClientContext*> pending_ ABSL_GUARDED_BY(mu_);
};

struct PeerTls {
  bool enabled = false;
  grpc::SslCredentialsOptions options;
  std::string server_name;
};

absl::StatusOr<PeerTls> LoadPeerTls(const v1::PeerTlsConfig& t) {
  PeerTls tls;
  if (t.ca_file().empty()) return tls;
  tls.enabled = true;
  absl::StatusOr<std::string> ca = ReadFile(t.ca_file());
  if (!ca.ok()) return ca.status();
  tls.options.pem_root_certs = *ca;
  if (!t.cert_file().empty()) {
    absl::StatusOr<std::string> cert = ReadFile(t.cert_file());
    absl::StatusOr<std::string> key = ReadFile(t.key_file());
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    tls.options.pem_cert_chain = *cert;
    tls.options.pem_private_key = *key;
  }
  tls.server_name = t.server_name();
  return tls;
}

}  // namespace

absl::StatusOr<daemon::PeerClientFactory> MakeGrpcPeerClientFactory(
    const v1::DaemonConfig& config, daemon::DaemonEvents& events) {
  absl::StatusOr<PeerTls> tls = LoadPeerTls(config.peer().tls());
  if (!tls.ok()) {
    return absl::Status(tls.status().code(),
                        absl::StrCat("peer.tls: ", tls.status().message()));
  }
  const daemon::PeerDeadlines deadlines =
      daemon::PeerDeadlinesOf(config.peer());
  return [tls = *tls, deadlines, &events](const std::string& address)
             -> absl::StatusOr<std::unique_ptr<daemon::PeerClient>> {
    // A Unix socket is on this host: its file permissions are the guard.
    const bool local = absl::StartsWith(address, "unix:");
    std::shared_ptr<grpc::ChannelCredentials> creds =
        tls.enabled && !local ? grpc::SslCredentials(tls.options)
                              : grpc::InsecureChannelCredentials();
    grpc::ChannelArguments args;
    if (tls.enabled && !local && !tls.server_name.empty())
      args.SetSslTargetNameOverride(tls.server_name);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(address, creds, args);
    if (!channel) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer: cannot make a channel to '", address, "'"));
    }
    return std::make_unique<GrpcPeerClient>(std::move(channel), deadlines,
                                            events);
  };
}

}  // namespace vmig::server
