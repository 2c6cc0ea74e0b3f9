#include "control/server/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"

namespace vmig::server {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(
    const v1::ListenConfig& l) {
  if (l.tls().cert_file().empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions opts;
  auto cert = ReadFile(l.tls().cert_file());
  auto key = ReadFile(l.tls().key_file());
  if (!cert.ok()) return cert.status();
  if (!key.ok()) return key.status();
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  if (!l.tls().ca_file().empty()) {
    auto ca = ReadFile(l.tls().ca_file());
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
  }
  opts.client_certificate_request =
      l.tls().require_client_cert()
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return grpc::SslServerCredentials(opts);
}

}  // namespace

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    const v1::DaemonConfig& config,
    const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const auto& l = config.listen();

  std::error_code ec;
  const std::filesystem::path sock(l.unix_socket());
  std::filesystem::create_directories(sock.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("listen.unix_socket: cannot create ",
                     sock.parent_path().string(), ": ", ec.message()));
  }
  // A socket left by a previous run would make bind fail.
  struct stat st;
  if (::lstat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
    ::unlink(sock.c_str());

  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", l.unix_socket()),
                           grpc::InsecureServerCredentials());
  int tcp_port = 0;
  if (!l.tcp_address().empty()) {
    auto creds = TcpCredentials(l);
    if (!creds.ok()) return creds.status();
    builder.AddListeningPort(l.tcp_address(), *creds, &tcp_port);
  }
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(config.limits().max_message_bytes()));
  builder.SetMaxSendMessageSize(
      static_cast<int>(config.limits().max_message_bytes()));
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on unix:", l.unix_socket(),
        l.tcp_address().empty() ? "" : absl::StrCat(" and ", l.tcp_address())));
  }
  if (!l.tcp_address().empty() && tcp_port == 0) {
    server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", l.tcp_address()));
  }
  if (::chmod(sock.c_str(), l.unix_socket_mode()) != 0) {
    server->Shutdown();
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", sock.string()));
  }
  return server;
}

}  // namespace vmig::server
