// Trust between daemons: each serves the peer protocol only on TCP with
// mutual TLS, to the peer identities its configuration allows. Two such
// daemons migrate to each other; a third one, with a certificate of
// another CA or an identity not allowed, is refused at the handshake; an
// operator's API client calling PeerService is denied and the migration it
// targeted completes.
#include <string>

#include "common/files.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"
#include "vmig/v1/peer.grpc.pb.h"

namespace vmig::testing {
namespace {

class PeerTrustTest : public MigrationTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(MakeTestCertificates(dir_).exit_code, 0);
    port_a_ = FreeTcpPort();
    port_b_ = FreeTcpPort();
    src_listen_extra_ = Listen("a", port_a_);
    dst_listen_extra_ = Listen("b", port_b_);
    src_extra_ = Peer("a", "vmigd-b");
    dst_extra_ = Peer("b", "vmigd-a");
    peer_address_ = Tcp(port_b_);
  }
  // A mutual-TLS TCP listener with daemon `n`'s certificate.
  std::string Listen(const std::string& n, int port) const {
    const std::string d = dir_.path();
    return "tcp_address: \"" + Tcp(port) + "\" tls { cert_file: \"" + d +
           "/vmigd-" + n + ".pem\" key_file: \"" + d + "/vmigd-" + n +
           ".key\" ca_file: \"" + d + "/ca.pem\" require_client_cert: true } ";
  }
  // Dials peers as `n` (its certificate, trusting the test CA) and serves
  // the peer protocol to `allowed` only, never on the Unix socket.
  std::string Peer(const std::string& n, const std::string& allowed) const {
    const std::string d = dir_.path();
    return "peer { tls { cert_file: \"" + d + "/vmigd-" + n +
           ".pem\" key_file: \"" + d + "/vmigd-" + n + ".key\" ca_file: \"" +
           d + "/ca.pem\" } allowed_identities: \"" + allowed +
           "\" allow_unix_peers: false }\n";
  }
  static std::string Tcp(int port) {
    return "127.0.0.1:" + std::to_string(port);
  }
  // A PeerService client of the destination as an operator would make one:
  // over its Unix socket, or over TCP with the operator's certificate (the
  // test CA's, CN=operator).
  std::unique_ptr<v1::PeerService::Stub> OperatorOverUnix() {
    return v1::PeerService::NewStub(dest_->Channel());
  }
  std::unique_ptr<v1::PeerService::Stub> OperatorOverTls() {
    const std::string d = dir_.path();
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = vmig::ReadFileOrEmpty(d + "/ca.pem");
    o.pem_cert_chain = vmig::ReadFileOrEmpty(d + "/client.pem");
    o.pem_private_key = vmig::ReadFileOrEmpty(d + "/client.key");
    return v1::PeerService::NewStub(
        grpc::CreateChannel(Tcp(port_b_), grpc::SslCredentials(o)));
  }
  // A restarted source refuses to start while its data-plane link is down
  // (the destination redials it): tries for up to 20 s.
  bool StartOnceTheLinkIsUp(const std::string& id) {
    for (int i = 0; i < 200; ++i) {
      grpc::Status st = Start(id, 500);
      if (st.ok()) return true;
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE) {
        ADD_FAILURE() << st.error_message();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  int port_a_ = 0, port_b_ = 0;
};

const DeviceSpec kNic = {"nic0",
                         "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                         "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=2"};

TEST_F(PeerTrustTest, TwoDaemonsServingOnlyMutualTlsMigrateToEachOther) {
  StartDaemons({kNic});
  MigrateAndVerify("there");
  EXPECT_EQ(Get(*src_mig_, "there").data_protection(), "aes-256-gcm");
  EXPECT_EQ(Get(*dst_mig_, "there").data_protection(), "aes-256-gcm");
  EXPECT_EQ(Get(*src_mig_, "there").report().data_protection(), "aes-256-gcm");

  // And back: the destination is now the source, dialling A over TCP.
  const uint64_t digest = Devices(*dst_dev_)["devices/nic0"].emulated_digest();
  v1::PrepareIncomingRequest prep;
  prep.set_session_id("back");
  prep.add_devices("nic0");
  grpc::ClientContext c1;
  v1::Session s;
  ASSERT_TRUE(src_mig_->PrepareIncoming(Ctx(c1), prep, &s).ok());
  v1::StartMigrationRequest start;
  start.set_session_id("back");
  start.set_peer(Tcp(port_a_));
  auto* m = start.add_devices();
  m->set_source("nic0");
  m->set_destination("nic0");
  start.mutable_downtime_budget()->set_seconds(1);
  grpc::ClientContext c2;
  grpc::Status st = dst_mig_->StartMigration(Ctx(c2), start, &s);
  ASSERT_TRUE(st.ok()) << st.error_message();
  v1::Session back = WaitEnd(*dst_mig_, "back");
  ASSERT_EQ(back.phase(), v1::PHASE_COMPLETED) << back.error();
  EXPECT_EQ(WaitEnd(*src_mig_, "back").phase(), v1::PHASE_COMPLETED);
  auto a = Devices(*src_dev_)["devices/nic0"];
  EXPECT_EQ(a.state(), v1::DEVICE_STATE_RUNNING);
  EXPECT_EQ(a.emulated_digest(), digest);
}

TEST_F(PeerTrustTest, AThirdDaemonOfAnotherCaOrNotAllowedIsRefused) {
  // The source is daemon C: the test CA signed it, B does not list it.
  src_extra_ = Peer("c", "vmigd-b");
  // A copy-mode memif client: it redials the restarted sources by itself
  // (as a zero-copy one does: MemifLinkTest).
  dst_dataplane_ =
      "dataplane { lcores: \"0\" main_lcore: 1 ports { name: \"p\" memif: "
      "\"role=client,socket=" +
      dir_.path() +
      "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.2\" } }\n";
  StartDaemons({kNic});
  const uint64_t before = Devices(*src_dev_)["devices/nic0"].emulated_digest();
  ASSERT_TRUE(Prepare("t1").ok());
  ASSERT_TRUE(Start("t1", 500).ok());
  v1::Session s = WaitEnd(*src_mig_, "t1");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("not in peer.allowed_identities"), std::string::npos)
      << s.error();
  EXPECT_NE(dest_->log().find("PeerService.Handshake"), std::string::npos);

  // Daemon X: a certificate of another CA fails the TLS handshake itself.
  src_config_.replace(src_config_.find("vmigd-c.pem"), 11, "vmigd-x.pem");
  src_config_.replace(src_config_.find("vmigd-c.key"), 11, "vmigd-x.key");
  ASSERT_NO_FATAL_FAILURE(RestartSource());
  ASSERT_TRUE(StartOnceTheLinkIsUp("t1"));
  s = WaitEnd(*src_mig_, "t1");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("handshake"), std::string::npos) << s.error();

  // Neither moved anything: the source runs its own state, and the
  // destination still waits, for the daemon it trusts.
  EXPECT_EQ(Devices(*src_dev_)["devices/nic0"].state(),
            v1::DEVICE_STATE_RUNNING);
  EXPECT_EQ(Devices(*src_dev_)["devices/nic0"].emulated_digest(), before);
  EXPECT_EQ(Get(*dst_mig_, "t1").phase(), v1::PHASE_PREPARED);
  src_config_.replace(src_config_.find("vmigd-x.pem"), 11, "vmigd-a.pem");
  src_config_.replace(src_config_.find("vmigd-x.key"), 11, "vmigd-a.key");
  ASSERT_NO_FATAL_FAILURE(RestartSource());
  ASSERT_TRUE(StartOnceTheLinkIsUp("t1"));
  s = WaitEnd(*src_mig_, "t1");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(Devices(*dst_dev_)["devices/nic0"].emulated_digest(), before);
}

TEST_F(PeerTrustTest,
       AnOperatorCallingPeerServiceIsDeniedAndTheMigrationLives) {
  StartDaemons({kNic});
  const uint64_t before = Devices(*src_dev_)["devices/nic0"].emulated_digest();
  ASSERT_TRUE(Prepare("m1").ok());
  ASSERT_TRUE(Start("m1", 500, /*manual=*/true).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "m1", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  std::unique_ptr<v1::PeerService::Stub> stubs[] = {OperatorOverUnix(),
                                                    OperatorOverTls()};
  for (auto& stub : stubs) {
    v1::AbortRequest abort;
    abort.set_session_id("m1");
    abort.set_reason("an operator's mistake, or an attack");
    v1::AbortResponse ar;
    grpc::ClientContext c1;
    grpc::Status st = stub->Abort(Ctx(c1), abort, &ar);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << st.error_message();
    v1::HandshakeRequest hello;
    hello.set_session_id("m1");
    hello.set_version(1);
    v1::HandshakeResponse hr;
    grpc::ClientContext c2;
    st = stub->Handshake(Ctx(c2), hello, &hr);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << st.error_message();
    EXPECT_EQ(hr.session_token(), 0u);
    v1::CommitRequest commit;
    commit.set_session_id("m1");
    v1::CommitResponse cr;
    grpc::ClientContext c3;
    EXPECT_EQ(stub->Commit(Ctx(c3), commit, &cr).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    v1::HeartbeatRequest beat;
    beat.set_session_id("m1");
    v1::HeartbeatResponse br;
    grpc::ClientContext c4;
    EXPECT_EQ(stub->Heartbeat(Ctx(c4), beat, &br).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // The session it targeted is untouched and completes.
  ASSERT_TRUE(SwitchoverOnSource("m1").ok());
  v1::Session s = WaitEnd(*src_mig_, "m1");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(Devices(*dst_dev_)["devices/nic0"].emulated_digest(), before);
  EXPECT_NE(dest_->log().find("PeerService.Abort from unix"),
            std::string::npos);
}

}  // namespace
}  // namespace vmig::testing
