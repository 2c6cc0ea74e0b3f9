// Who may call PeerService: only peer daemons. Over TCP, a caller whose
// mutual-TLS client certificate (verified against listen.tls.ca_file by
// the TLS layer) names an identity in peer.allowed_identities, as a
// subject alternative name, a common name or the whole subject; over the
// Unix socket, any caller, but only when peer.allow_unix_peers says so
// (one-host setups and tests: the socket's mode decides who connects).
// Everyone else, operator API clients included, gets PERMISSION_DENIED
// from every PeerService method, checked on each call.
#ifndef VMIGD_CONTROL_SERVER_PEER_AUTHORIZER_H_
#define VMIGD_CONTROL_SERVER_PEER_AUTHORIZER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "vmig/v1/config.pb.h"

namespace vmig::server {

class PeerAuthorizer {
 public:
  explicit PeerAuthorizer(const v1::PeerConfig& peer);

  // What a caller presented: its transport and, over TLS, the verified
  // identities of its certificate (empty if none was verified).
  struct Caller {
    bool unix_socket = false;
    bool authenticated = false;
    std::vector<std::string> identities;
  };
  static Caller CallerOf(const grpc::ServerContext& ctx);

  // OK for a peer daemon; PERMISSION_DENIED saying why otherwise.
  absl::Status Check(const Caller& caller) const;

 private:
  absl::flat_hash_set<std::string> allowed_;
  bool allow_unix_;
};

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_PEER_AUTHORIZER_H_
