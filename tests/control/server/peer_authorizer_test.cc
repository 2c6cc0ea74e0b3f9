// Who may call the peer protocol: the decision for each kind of caller.
#include "control/server/peer_authorizer.h"

#include "gtest/gtest.h"

namespace vmig::server {
namespace {

v1::PeerConfig Peers(bool allow_unix) {
  v1::PeerConfig p;
  p.add_allowed_identities("vmigd-b.example");
  p.add_allowed_identities("CN=vmigd-c,O=cloud");
  p.set_allow_unix_peers(allow_unix);
  return p;
}

PeerAuthorizer::Caller Tls(std::vector<std::string> ids) {
  PeerAuthorizer::Caller c;
  c.authenticated = true;
  c.identities = std::move(ids);
  return c;
}

TEST(PeerAuthorizerTest, AMutualTlsPeerIsAllowedByItsSanCnOrSubject) {
  const PeerAuthorizer a(Peers(false));
  EXPECT_TRUE(a.Check(Tls({"127.0.0.1", "vmigd-b.example"})).ok());
  EXPECT_TRUE(a.Check(Tls({"vmigd-c", "CN=vmigd-c,O=cloud"})).ok());
}

TEST(PeerAuthorizerTest, EveryoneElseIsDeniedSayingWhy) {
  const PeerAuthorizer a(Peers(false));
  // A certificate of the right CA whose identity is not listed (an
  // operator's, or a third daemon's).
  absl::Status s = a.Check(Tls({"operator", "CN=operator"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("operator"), std::string::npos) << s.message();
  // TCP without a verified client certificate.
  s = a.Check(PeerAuthorizer::Caller{});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("client certificate"), std::string::npos);
  // The Unix socket, not opened to peers by the configuration.
  PeerAuthorizer::Caller local;
  local.unix_socket = true;
  s = a.Check(local);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("allow_unix_peers"), std::string::npos);
  // Substrings and case are not identities.
  EXPECT_FALSE(a.Check(Tls({"vmigd-b"})).ok());
  EXPECT_FALSE(a.Check(Tls({"VMIGD-B.EXAMPLE"})).ok());
}

TEST(PeerAuthorizerTest, TheUnixSocketServesPeersOnlyWhenConfigured) {
  PeerAuthorizer::Caller local;
  local.unix_socket = true;
  EXPECT_TRUE(PeerAuthorizer(Peers(true)).Check(local).ok());
  EXPECT_FALSE(PeerAuthorizer(Peers(false)).Check(local).ok());
}

}  // namespace
}  // namespace vmig::server
