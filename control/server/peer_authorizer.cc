#include "control/server/peer_authorizer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/security/auth_context.h"

namespace vmig::server {

PeerAuthorizer::PeerAuthorizer(const v1::PeerConfig& peer)
    : allowed_(peer.allowed_identities().begin(),
               peer.allowed_identities().end()),
      allow_unix_(peer.allow_unix_peers()) {}

PeerAuthorizer::Caller PeerAuthorizer::CallerOf(
    const grpc::ServerContext& ctx) {
  Caller c;
  c.unix_socket = absl::StartsWith(ctx.peer(), "unix:");
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return c;
  c.authenticated = true;
  for (const char* property :
       {"x509_subject_alternative_name", "x509_common_name", "x509_subject"}) {
    for (const grpc::string_ref& v : auth->FindPropertyValues(property))
      c.identities.emplace_back(v.data(), v.size());
  }
  return c;
}

absl::Status PeerAuthorizer::Check(const Caller& caller) const {
  if (caller.unix_socket) {
    if (allow_unix_) return absl::OkStatus();
    return absl::PermissionDeniedError(
        "the peer protocol is not served on the Unix socket "
        "(peer.allow_unix_peers is off): peer daemons connect over TCP with "
        "mutual TLS");
  }
  if (!caller.authenticated) {
    return absl::PermissionDeniedError(
        "the peer protocol is served only to peer daemons with a verified "
        "client certificate (mutual TLS)");
  }
  for (const std::string& id : caller.identities) {
    if (allowed_.contains(id)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "certificate identity [", absl::StrJoin(caller.identities, ", "),
      "] is not in peer.allowed_identities"));
}

}  // namespace vmig::server
